import { TokenBuckets } from "../core/token-bucket";

/** Client addresses an isolate keeps a refusal count for; past it the counts start again (bounded memory). */
export const MAX_REFUSAL_ADDRESSES = 10_000;

/**
 * The address a request came from: `CF-Connecting-IP`, set by Cloudflare's edge. Under `wrangler
 * dev` (or any caller without it) every request shares one bucket, `unknown`.
 */
export function clientAddress(request: Request): string {
  return request.headers.get("cf-connecting-ip") ?? "unknown";
}

/**
 * 401 and 403 answers per client address, in one edge isolate (REFUSALS_PER_SEC, REFUSAL_BURST).
 * An address that used them up is answered 429 for any call that would need a token look-up (an
 * unknown token, a malformed one, none): a flood of made-up tokens then costs no coordinator call
 * and no body parse. Calls with a token this isolate already trusts go on as usual.
 */
export class RefusalLimiter {
  private readonly buckets: TokenBuckets;

  constructor(config: { ratePerSec: number; burst: number }) {
    this.buckets = new TokenBuckets(config);
  }

  /** Seconds before `address` may be refused again (0: now). */
  wait(address: string, now: number): number {
    return this.buckets.wait(address, now);
  }

  /** Counts one refusal (401 or 403) of `address`. */
  refused(address: string, now: number): void {
    if (this.buckets.size >= MAX_REFUSAL_ADDRESSES) {
      this.buckets.sweep(now);
      if (this.buckets.size >= MAX_REFUSAL_ADDRESSES) {
        this.buckets.clear();
      }
    }
    this.buckets.take(address, now);
  }
}
