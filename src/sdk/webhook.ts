/**
 * The receiving side of push delivery: an HTTP executor checks that a request comes from its
 * Meridian endpoint (Standard Webhooks headers, signed with the endpoint's `whsec_` secret) before
 * it runs the task. Works in Node (node:http headers) and in a Worker (Request headers).
 */
import { signatureRefusal, TIMESTAMP_TOLERANCE_SEC } from "../core/webhook-signature.ts";
import type { LeasedTaskView } from "./types.ts";

/** A pushed delivery that must not be run: bad or missing signature, stale timestamp, or not a task. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
}

/** Headers as Node's `IncomingMessage.headers` or the fetch API's `Headers` give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Seconds the `webhook-timestamp` may be from now (default 300, the standard's). */
  toleranceSec?: number;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
}

function header(headers: WebhookHeaders, name: string): string | null {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name);
  }
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/**
 * Verifies a push delivery and answers its task: the signature must match the raw body (check it
 * before parsing; in constant time), and the timestamp be within the tolerance. Throws a
 * WebhookVerificationError otherwise (answer 401: Meridian retries, and its breaker opens if it persists).
 *
 * ```ts
 * const task = await verifyWebhook(process.env.MERIDIAN_SECRET!, req.headers, body);
 * ```
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): Promise<LeasedTaskView> {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const nowSec = Math.floor((options.now ?? Date.now)() / 1000);
  let refusal: string | null;
  try {
    refusal = await signatureRefusal(
      secret,
      {
        id: header(headers, "webhook-id"),
        timestamp: header(headers, "webhook-timestamp"),
        signature: header(headers, "webhook-signature"),
      },
      text,
      nowSec,
      options.toleranceSec ?? TIMESTAMP_TOLERANCE_SEC,
    );
  } catch (error) {
    throw new WebhookVerificationError(error instanceof Error ? error.message : String(error));
  }
  if (refusal !== null) {
    throw new WebhookVerificationError(refusal);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError("the body is not JSON");
  }
  const task = (parsed as { task?: Partial<LeasedTaskView> } | null)?.task;
  if (
    typeof task !== "object" ||
    task === null ||
    typeof task.id !== "string" ||
    typeof task.type !== "string" ||
    typeof task.attempt !== "number"
  ) {
    throw new WebhookVerificationError('the body is not {"task": {...}}');
  }
  return task as LeasedTaskView;
}
