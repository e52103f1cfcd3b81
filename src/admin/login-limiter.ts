import type { Clock } from '../clock.js';

/**
 * Failed logins, per client address (README "Admin UI across the LAN"): a wrong token, by
 * /login, a Bearer header or a cookie. Each address has a bucket of `burst` failures that refills
 * one every `refillMs`; an empty bucket answers 429 with Retry-After, and while it is empty no
 * token from that address is even compared, so guessing cannot go on at a higher rate.
 * The table is bounded: past `maxAddresses` the least recently failing address is forgotten.
 */

export interface LoginLimiterOptions {
  clock: Clock;
  burst?: number;
  refillMs?: number;
  maxAddresses?: number;
}

interface Bucket {
  /** Failures still allowed, as of `at`. */
  tokens: number;
  at: number;
}

export class LoginLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxAddresses: number;

  constructor(private readonly options: LoginLimiterOptions) {
    this.burst = options.burst ?? 20;
    this.refillMs = options.refillMs ?? 3000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
  }

  /** Seconds the address must wait before its next try, or 0 when it may try now. */
  retryAfter(address: string): number {
    const b = this.current(address);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - b.tokens) * this.refillMs) / 1000));
  }

  /** A wrong token from `address`. */
  failed(address: string): void {
    const b = this.current(address) ?? { tokens: this.burst, at: this.options.clock.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    // Re-inserted: the Map's order is then least recently failing first, for eviction.
    this.buckets.delete(address);
    this.buckets.set(address, b);
    while (this.buckets.size > this.maxAddresses) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
  }

  private current(address: string): Bucket | undefined {
    const b = this.buckets.get(address);
    if (!b) return undefined;
    const now = this.options.clock.now();
    b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) / this.refillMs);
    b.at = now;
    if (b.tokens >= this.burst) {
      this.buckets.delete(address);
      return undefined;
    }
    return b;
  }
}
