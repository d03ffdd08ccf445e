/**
 * Where a task may run, as its body says: a pin (`region`) or an allow-list (`regions`, with
 * `fallback`), API-v2 §3. Pure: what the edge reads from a validated body, and what an idempotent
 * repeat is compared by.
 */
import type { AllowList, Fallback } from "./placement";

/** The most regions an allow-list may name. */
export const MAX_ALLOWED_REGIONS = 16;

/** The part of a submit body these functions read. */
export interface ConstrainedBody {
  idempotencyKey?: string | undefined;
  regions?: readonly string[] | undefined;
  fallback?: Fallback | undefined;
}

/** The body's allow-list, or null when it has none (`fallback` alone means nothing). */
export function allowListOf(body: ConstrainedBody): AllowList | null {
  if (body.regions === undefined) {
    return null;
  }
  return { regions: [...body.regions], fallback: body.fallback ?? "none" };
}

/**
 * What an idempotency key's request hash is taken over: the body without its key, with the
 * allow-list in a canonical form (its order and an explicit `fallback: "none"`, the default, do not
 * change what the task means). A body without `regions` or `fallback` hashes exactly as before
 * allow-lists existed, so keys stored then still match their repeats.
 */
export function idempotencyFingerprint<T extends ConstrainedBody>(body: T): Omit<T, "idempotencyKey"> {
  const { idempotencyKey: _key, ...rest } = body;
  const out: Record<string, unknown> = { ...rest };
  if (body.regions !== undefined) {
    out.regions = [...new Set(body.regions)].sort();
  }
  if (body.fallback === "none") {
    delete out.fallback;
  }
  return out as Omit<T, "idempotencyKey">;
}

/** The 503 message for a task no region could take; one with an allow-list names the list. */
export function noRegionMessage(allow: AllowList | null, otherwise: string): string {
  if (allow === null) {
    return otherwise;
  }
  const list = allow.regions.join(", ");
  return allow.fallback === "nearest"
    ? `no region could take the task, in its list (${list}) or elsewhere; nothing was stored`
    : `no region of the task's list (${list}) can take it, and its fallback is none; nothing was stored`;
}
