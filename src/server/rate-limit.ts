/**
 * Per-client rate limit for update posts: a token bucket per client IP address (the socket's
 * peer, or the `X-Forwarded-For` client when the server runs with `trustProxy` behind a proxy
 * it trusts). A bucket holds `burst` tokens and refills at `perSecond`; each post takes one.
 * Buckets of idle clients are dropped, so memory stays bounded by the clients of the last minute.
 */
export interface RateLimitOptions {
  /** Sustained posts per second per client; 0 disables the limit. */
  perSecond: number;
  /** Posts a client may make at once. Default: 2 × perSecond (at least 1). */
  burst?: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;
  private lastSweep = 0;

  constructor(private readonly options: RateLimitOptions) {
    this.burst = Math.max(1, options.burst ?? Math.ceil(2 * options.perSecond));
  }

  get enabled(): boolean {
    return this.options.perSecond > 0;
  }

  /** Takes a token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string, now = performance.now()): number {
    if (!this.enabled) return 0;
    const rate = this.options.perSecond;
    if (now - this.lastSweep > 60_000) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    const full = (this.burst / this.options.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > full) this.buckets.delete(k);
  }
}
