import type { BreakerSignal } from "./circuit-breaker";

/**
 * What one push delivery's answer means for its task (pure). 2xx: succeeded, the JSON body is the
 * result (an empty body is null, a body that is not JSON is the text). 409, 410, 422: the executor
 * refuses the task for good (failed, not retried). Anything else, a network error or no answer in
 * time: a failed attempt, retried with the task's back-off.
 */
export type DeliveryOutcome =
  | { kind: "succeeded"; result: unknown }
  | { kind: "rejected"; error: string }
  | { kind: "failed"; error: string };

/** Statuses by which an executor refuses a task for good. */
export const FINAL_REFUSALS: readonly number[] = [409, 410, 422];
/** A result longer than this (characters) is not stored: the attempt fails for good, as the body limit would refuse it. */
export const MAX_RESULT_CHARS = 256 * 1024;
/** How much of an error answer's body is kept in the task's lastError. */
const ERROR_EXCERPT_CHARS = 200;

/** The outcome of an HTTP answer. */
export function outcomeOfResponse(status: number, body: string): DeliveryOutcome {
  if (status >= 200 && status < 300) {
    if (body.length > MAX_RESULT_CHARS) {
      return {
        kind: "rejected",
        error: `endpoint answered ${status} with a result over ${MAX_RESULT_CHARS} characters`,
      };
    }
    return { kind: "succeeded", result: resultOf(body) };
  }
  const excerpt = body.trim().slice(0, ERROR_EXCERPT_CHARS);
  const error = `endpoint answered ${status}${excerpt ? `: ${excerpt}` : ""}`;
  return FINAL_REFUSALS.includes(status) ? { kind: "rejected", error } : { kind: "failed", error };
}

/** The outcome of a delivery that got no answer (`timedOut`: none within the endpoint's timeout). */
export function outcomeOfError(error: unknown, timedOut: boolean, timeoutMs: number): DeliveryOutcome {
  if (timedOut) {
    return { kind: "failed", error: `endpoint did not answer within ${timeoutMs} ms` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "failed", error: `endpoint unreachable: ${message.slice(0, ERROR_EXCERPT_CHARS)}` };
}

/** What the outcome says about the endpoint: a deliberate answer (success or refusal) means it works. */
export function breakerSignalOf(outcome: DeliveryOutcome): BreakerSignal {
  return outcome.kind === "failed" ? "failure" : "success";
}

function resultOf(body: string): unknown {
  if (body.trim() === "") {
    return null;
  }
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}
