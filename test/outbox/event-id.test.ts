import { describe, expect, it } from 'vitest';
import { EventIdSource, timePrefix } from '../../src/outbox/event-id.js';

/**
 * Event ids: the webhook-id format of docs/architecture.md "Wire format", unique, and in time order
 * as strings.
 */

describe('EventIdSource', () => {
  it('makes evt_ ids of 20 base64url characters, no dots, unique within one millisecond', () => {
    const ids = new EventIdSource();
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(ids.next(1_796_000_000_000));
    expect(seen.size).toBe(5000);
    for (const id of [...seen].slice(0, 50)) expect(id).toMatch(/^evt_[A-Za-z0-9_-]{20}$/);
    // Two sources (two agents, or one after a restart) in the same millisecond do not collide.
    const other = new EventIdSource();
    for (let i = 0; i < 5000; i++) expect(seen.has(other.next(1_796_000_000_000))).toBe(false);
  });

  it('sorts by time as plain strings (the order SQLite keeps the id index in)', () => {
    const ids = new EventIdSource();
    const times = [
      0,
      1,
      63,
      64,
      65,
      4095,
      4096,
      1_796_000_000_000,
      1_796_000_000_001,
      1_796_000_003_600,
      1_796_086_400_000,
      2 ** 48 - 1,
    ];
    const made = times.map((t) => ids.next(t));
    expect([...made].sort()).toEqual(made);
    // Bytes compare the same way (SQLite's BINARY collation is memcmp).
    const sortedBytes = [...made].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(sortedBytes).toEqual(made);
  });

  it('encodes 48 bits of milliseconds in 8 characters, most significant first', () => {
    expect(timePrefix(0)).toBe('--------');
    expect(timePrefix(1)).toBe('-------0');
    expect(timePrefix(64)).toBe('------0-');
    expect(timePrefix(2 ** 48 - 1)).toBe('zzzzzzzz');
    expect(timePrefix(-5)).toBe('--------');
  });
});
