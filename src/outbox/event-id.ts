import { randomBytes } from 'node:crypto';

/**
 * Event ids (the webhook-id of a single event, docs/architecture.md "Wire format"): `evt_` + 8 characters of the
 * millisecond time + 12 characters of 72 random bits, 20 characters of base64url-safe text.
 *
 * The time comes first so that ids sort by creation: the `events.id` UNIQUE index then grows at
 * its right edge, like the others. With 120 random bits each commit touched a leaf page of that
 * index per event, all written to the WAL again at every commit; that was a third of the cost of
 * storing an event (BENCHMARKS.md). The random part keeps ids unique across agents and restarts.
 */
export class EventIdSource {
  private pool = Buffer.alloc(0);
  private pos = 0;
  private lastMs = -1;
  private prefix = '';

  next(nowMs: number): string {
    if (this.pos + RANDOM_BYTES > this.pool.length) {
      this.pool = randomBytes(RANDOM_BYTES * 455);
      this.pos = 0;
    }
    const random = this.pool.toString('base64url', this.pos, this.pos + RANDOM_BYTES);
    this.pos += RANDOM_BYTES;
    if (nowMs !== this.lastMs) {
      this.lastMs = nowMs;
      this.prefix = timePrefix(nowMs);
    }
    return `evt_${this.prefix}${random}`;
  }
}

const RANDOM_BYTES = 9;
/** The base64url characters in ASCII order, so that string order is time order. */
const SORTED_ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/** 48 bits of milliseconds (until the year 10889), 6 bits per character, most significant first. */
export function timePrefix(ms: number): string {
  let t = Math.max(0, Math.floor(ms));
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = SORTED_ALPHABET[t % 64]! + out;
    t = Math.floor(t / 64);
  }
  return out;
}
