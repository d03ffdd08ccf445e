/** A token bucket's settings: `ratePerSec` refill, `burst` capacity. */
export interface BucketConfig {
  ratePerSec: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Per-key token buckets (one per API token). `take` spends one token or says how long to wait.
 * Pure: time comes in as `now`; buckets idle long enough to be full are forgotten.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly config: BucketConfig) {}

  /**
   * Spends `cost` tokens of `key` (a batch's items: each counts), all or none; returns 0 when
   * allowed, else the seconds until they are available. A cost over the burst costs the whole
   * burst, so it can pass once the bucket is full.
   */
  take(key: string, now: number, cost = 1): number {
    const { ratePerSec, burst } = this.config;
    const need = Math.min(cost, burst);
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedAt: now };
    const refilled = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSec);
    if (refilled >= need) {
      this.buckets.set(key, { tokens: refilled - need, updatedAt: now });
      return 0;
    }
    this.buckets.set(key, { tokens: refilled, updatedAt: now });
    return Math.max(1, Math.ceil((need - refilled) / ratePerSec));
  }

  /** The seconds until `key` may spend one token (0: now), spending nothing. */
  wait(key: string, now: number): number {
    const { ratePerSec, burst } = this.config;
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      return 0;
    }
    const refilled = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSec);
    return refilled >= 1 ? 0 : Math.max(1, Math.ceil((1 - refilled) / ratePerSec));
  }

  /** Drops buckets that have refilled completely (they hold no information). */
  sweep(now: number): void {
    const { ratePerSec, burst } = this.config;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSec >= burst) {
        this.buckets.delete(key);
      }
    }
  }

  /** Forgets every bucket. */
  clear(): void {
    this.buckets.clear();
  }

  get size(): number {
    return this.buckets.size;
  }
}
