import { describe, expect, it } from 'vitest';
import {
  clock,
  expectBalanced,
  expectBytesTrue,
  HOUR,
  json,
  open,
  crashAndReopen,
  rows,
  settle,
  useStoreFixture,
} from './store-fixture.js';

/** OutboxStore driven directly: envelope, routing, results, storage.maxBytes, prune. */

useStoreFixture();

describe('OutboxStore.append', () => {
  it('assigns a growing seq and writes the webhook envelope (docs/architecture.md "Wire format") for json, text and binary', () => {
    const o = open();
    const first = o.store.append([
      {
        topic: 'sensors/kitchen/temperature',
        type: 'sensor.kitchen',
        receivedAt: clock.t,
        payload: Buffer.from(' {"c": 21.50, "n":[1,2]} '),
        data: { kind: 'json', json: '{"c": 21.50, "n":[1,2]}' },
      },
      {
        topic: 'logs/"quoted"',
        type: 'log',
        receivedAt: clock.t + 1,
        payload: Buffer.from('hello "✓"\n'),
        data: { kind: 'text', text: 'hello "✓"\n' },
      },
    ]);
    expect(first).toEqual({ full: false, stored: 2, duplicates: 0, accepted: 2 });
    expect(
      o.store.append([
        {
          topic: 'raw/x',
          type: 'raw',
          receivedAt: clock.t + 2,
          payload: Buffer.from([0, 255, 1]),
          data: { kind: 'binary' },
        },
      ]).stored,
    ).toBe(1);

    const stored = rows(o.db);
    expect(stored.map((r) => r.seq)).toEqual([1, 2, 3]);
    const bodies = stored.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    for (const b of bodies) expect(b.id).toMatch(/^evt_[^.]+$/);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(3);
    expect(Object.keys(bodies[0]!)).toEqual(['id', 'type', 'timestamp', 'agent', 'seq', 'topic', 'data']);
    expect(bodies[0]).toMatchObject({
      type: 'sensor.kitchen',
      timestamp: '2026-11-24T08:00:00.123Z',
      agent: 'gw-1',
      seq: 1,
      topic: 'sensors/kitchen/temperature',
      data: { c: 21.5, n: [1, 2] },
    });
    // The device's JSON is embedded as sent, not re-serialised (21.50 stays 21.50).
    expect(stored[0]!.body).toContain('"data":{"c": 21.50, "n":[1,2]}');
    expect(Object.keys(bodies[1]!)).toEqual(['id', 'type', 'timestamp', 'agent', 'seq', 'topic', 'data']);
    expect(bodies[1]).toMatchObject({
      seq: 2,
      topic: 'logs/"quoted"',
      data: 'hello "✓"\n',
      timestamp: '2026-11-24T08:00:00.124Z',
    });
    expect(Object.keys(bodies[2]!)).toEqual([
      'id',
      'type',
      'timestamp',
      'agent',
      'seq',
      'topic',
      'data',
      'encoding',
    ]);
    expect(bodies[2]).toMatchObject({ seq: 3, data: 'AP8B', encoding: 'base64' });
    expectBytesTrue(o);

    // seq only grows: not reused after its events are gone, nor after a restart.
    for (const r of stored) settle(o.store, 'cloud', r.seq, 'delivered');
    o.store.commitResults();
    clock.t += 25 * HOUR;
    expect(o.store.prune()).toBe(3);
    expectBytesTrue(o);
    expect(o.store.counts().bytes).toBe(0);
    const o2 = crashAndReopen(o);
    o2.store.append([json('x', 1)]);
    expect(rows(o2.db).map((r) => r.seq)).toEqual([4]);
    expect(o2.store.counts()).toMatchObject({ received: 4, delivered: 3, pending: 1 });
    expectBytesTrue(o2);
  });

  it('routes by endpoint type patterns; an event nobody wants is unrouted; a rejected one goes nowhere', () => {
    const o = open({
      endpoints: [
        { id: 'sensors', types: ['sensor.*'] },
        { id: 'doors', types: ['door.open'] },
      ],
    });
    o.store.append([
      json('sensor.temperature', 1),
      json('sensor.kitchen.humidity', 2),
      json('door.open', 3),
      json('door.opened', 4),
      json('sensorx.a', 5),
    ]);
    o.store.append([
      { ...json('sensor.temperature', 0), data: { kind: 'binary' }, rejected: 'payload is not JSON' },
    ]);
    const routes = o.db
      .prepare(
        `SELECT e.seq, group_concat(d.endpoint_id) AS eps FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq GROUP BY e.seq ORDER BY e.seq`,
      )
      .all();
    expect(routes).toEqual([
      { seq: 1, eps: 'sensors' },
      { seq: 2, eps: 'sensors' },
      { seq: 3, eps: 'doors' },
      { seq: 4, eps: null },
      { seq: 5, eps: null },
      { seq: 6, eps: null },
    ]);
    expect(rows(o.db).map((r) => r.state)).toEqual([
      'pending',
      'pending',
      'pending',
      'unrouted',
      'unrouted',
      'rejected',
    ]);
    expect(o.store.counts()).toMatchObject({ received: 6, pending: 3, unrouted: 2, rejected: 1 });
    expect(o.store.pendingByEndpoint()).toEqual(
      new Map([
        ['sensors', 2],
        ['doors', 1],
      ]),
    );

    o.store.setEndpoints([
      { id: 'sensors', types: ['sensor.*'] },
      { id: 'all', types: ['*'] },
    ]);
    o.store.append([json('door.opened', 7)]);
    expect(o.store.pendingByEndpoint().get('all')).toBe(1);
    expectBalanced(o.store.counts());
    // Unrouted and rejected events cost their row; routed ones a delivery row per endpoint.
    expectBytesTrue(o);
  });
});

describe('OutboxStore results', () => {
  it('settles an event when every endpoint it was routed to is done, and counts failures', () => {
    const o = open({
      endpoints: [
        { id: 'a', types: ['*'] },
        { id: 'b', types: ['*'] },
      ],
    });
    o.store.append([json('e', 1), json('e', 2), json('e', 3)]);

    settle(o.store, 'a', 1, 'delivered');
    o.store.commitResults();
    expect(rows(o.db)[0]!.state).toBe('pending');
    expect(o.store.counts()).toMatchObject({ pending: 3, delivered: 0 });

    settle(o.store, 'b', 1, 'delivered');
    // A retry that is still pending records the attempt but settles nothing.
    o.store.record({
      endpointId: 'a',
      seq: 2,
      at: clock.now(),
      outcome: 'message-trouble',
      newStatus: 'pending',
      attempted: true,
      messageFailure: true,
      nextAttemptAt: clock.now() + 5000,
      status: 422,
      durationMs: 1,
    });
    settle(o.store, 'b', 2, 'delivered');
    settle(o.store, 'a', 3, 'failed');
    o.store.commitResults();
    expect(rows(o.db).map((r) => r.state)).toEqual(['delivered', 'pending', 'pending']);
    // The 422 and the failure were logged as attempts (a first-try success is not): they count too.
    expect(o.db.prepare(`SELECT count(*) FROM attempts`).pluck().get()).toBe(2);
    expectBytesTrue(o);
    expect(o.store.counts()).toMatchObject({ pending: 2, delivered: 1, failed: 0 });
    expect(o.store.pendingByEndpoint()).toEqual(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    );

    settle(o.store, 'b', 3, 'delivered');
    settle(o.store, 'a', 2, 'delivered');
    o.store.commitResults();
    expect(rows(o.db).map((r) => r.state)).toEqual(['delivered', 'delivered', 'failed']);
    const c = o.store.counts();
    expect(c).toMatchObject({ received: 3, pending: 0, delivered: 2, failed: 1 });
    expectBalanced(c);
    expectBytesTrue(o);
    // Counters survive a restart.
    const o2 = crashAndReopen(o);
    expect(o2.store.counts()).toMatchObject({ received: 3, delivered: 2, failed: 1, bytes: c.bytes });
    expectBytesTrue(o2);
  });
});

describe('OutboxStore after a crash', () => {
  it('keeps what was committed, from the WAL; results only queued are lost, so those events are sent again', () => {
    const o = open();
    o.store.append([json('e', 1), json('e', 2), json('e', 3)]);
    settle(o.store, 'cloud', 1, 'delivered');
    o.store.commitResults();
    // Queued, not yet committed: its commit timer is pending when the process dies.
    settle(o.store, 'cloud', 2, 'delivered');
    const o2 = crashAndReopen(o);
    // The crash image still had its commits in the WAL (no checkpoint, as after kill -9).
    expect(o2.wal).toBeGreaterThan(0);
    expect(rows(o2.db).map((r) => [r.seq, r.state])).toEqual([
      [1, 'delivered'],
      [2, 'pending'],
      [3, 'pending'],
    ]);
    const c = o2.store.counts();
    expect(c).toMatchObject({ received: 3, delivered: 1, pending: 2 });
    expectBalanced(c);
    expectBytesTrue(o2);
  });
});

describe('OutboxStore storage.maxBytes', () => {
  it('drop-oldest: drops the oldest undelivered events, counts them, and never exceeds maxBytes', () => {
    const maxBytes = 6000;
    const o = open({ maxBytes });
    const removed: number[] = [];
    o.store.onRemoved((seqs) => removed.push(...seqs));
    for (let i = 1; i <= 200; i++) {
      const ev =
        i % 10 === 0
          ? { ...json('e', i), data: { kind: 'binary' as const }, rejected: 'not JSON' }
          : json('e', { i, pad: 'x'.repeat(i % 37) });
      expect(o.store.append([ev]).stored).toBe(1);
      const c = o.store.counts();
      expect(c.bytes).toBeLessThanOrEqual(maxBytes);
      expectBytesTrue(o);
      expectBalanced(c);
      if (i % 7 === 0) {
        settle(o.store, 'cloud', rows(o.db).find((r) => r.state === 'pending')!.seq, 'delivered');
        o.store.commitResults();
      }
    }
    const left = rows(o.db);
    const c = o.store.counts();
    expect(c.dropped).toBeGreaterThan(100);
    // The newest events are the ones kept, with no gap.
    const seqs = left.map((r) => r.seq);
    expect(seqs.at(-1)).toBe(200);
    expect(seqs).toEqual([...Array(seqs.length).keys()].map((k) => 200 - seqs.length + 1 + k));
    // Every pending or failed event removed is counted as dropped.
    expect(removed.length).toBeGreaterThanOrEqual(c.dropped);
    expect(c).toMatchObject({ received: 200, pending: left.filter((r) => r.state === 'pending').length });
    expectBalanced(c);
    const o2 = crashAndReopen(o, { maxBytes });
    expect(o2.store.counts()).toMatchObject({ dropped: c.dropped, bytes: c.bytes });
    expectBytesTrue(o2);
  });

  for (const whenFull of ['drop-oldest', 'stop-ingest'] as const) {
    it(`${whenFull}: an event bigger than maxBytes on its own neither breaks the bound nor jams ingest`, () => {
      const maxBytes = 4096;
      const o = open({ maxBytes, whenFull });
      o.store.append([json('e', 1)]);
      settle(o.store, 'cloud', 1, 'delivered');
      o.store.commitResults();
      // Nothing in the outbox can make room for it: "full" would hold it (and the session) forever.
      expect(o.store.append([json('e', { big: 'y'.repeat(10_000) })]).full).toBe(false);
      const c = o.store.counts();
      expect(c.bytes).toBeLessThanOrEqual(maxBytes);
      expectBalanced(c);
      expectBytesTrue(o);
      expect(o.store.append([json('e', 'small')])).toMatchObject({ full: false, stored: 1 });
      expectBytesTrue(o);
    });
  }

  it('the attempt log of a struggling endpoint does not grow the outbox past maxBytes', () => {
    const maxBytes = 5000;
    const o = open({ maxBytes, whenFull: 'stop-ingest' });
    while (!o.store.append([json('e', 'fill')]).full) {
      /* fill */
    }
    // A 503 storm: the dispatcher records every probe with the first 512 bytes of the answer.
    for (let i = 0; i < 20; i++) {
      o.store.record({
        endpointId: 'cloud',
        seq: 1,
        at: clock.now(),
        outcome: 'endpoint-trouble',
        newStatus: 'pending',
        attempted: true,
        status: 503,
        durationMs: 1,
        response: 'e'.repeat(512),
      });
    }
    o.store.commitResults();
    expect(o.store.counts().bytes).toBeLessThanOrEqual(maxBytes);
    // Attempts that did not fit were left out (the delivery row keeps the last status): the
    // total is still what the rows cost.
    expectBytesTrue(o);
  });

  it('with room, the attempt log keeps the newest attempts of a delivery, and the bytes follow the rows (UTF-8 bytes, also for emoji and accents)', () => {
    const o = open();
    o.store.append([json('e', 1)]);
    for (let i = 0; i < 30; i++) {
      o.store.record({
        endpointId: 'cloud',
        seq: 1,
        at: clock.now() + i,
        outcome: 'endpoint-trouble',
        newStatus: 'pending',
        attempted: true,
        status: 503,
        durationMs: 1,
        error: i % 2 ? `HTTP 503 #${i} — réessayez` : undefined,
        response: '🔥é'.repeat(i * 5),
      });
      if (i % 4 === 0) o.store.commitResults();
    }
    o.store.commitResults();
    const kept = o.db.prepare(`SELECT count(*) FROM attempts`).pluck().get() as number;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(30);
    expectBytesTrue(o);
  });

  it('unrouted events removed to make room or pruned still add up', () => {
    const o = open({ maxBytes: 5000, endpoints: [{ id: 'cloud', types: ['sensor.*'] }] });
    for (let i = 0; i < 40; i++) o.store.append([json(i % 2 ? 'sensor.t' : 'door.open', i)]);
    expectBalanced(o.store.counts());
    expectBytesTrue(o);
    clock.t += 25 * HOUR;
    o.store.prune();
    expectBalanced(o.store.counts());
    expectBytesTrue(o);
  });

  it('stop-ingest: when full, append stores nothing and says so; delivered events make room again', () => {
    const maxBytes = 5000;
    const o = open({ maxBytes, whenFull: 'stop-ingest' });
    let accepted = 0;
    while (!o.store.append([json('e', { n: accepted })]).full) {
      accepted++;
      expect(accepted).toBeLessThan(100);
    }
    const before = o.store.counts();
    expect(before.bytes).toBeLessThanOrEqual(maxBytes);
    // In order, as many as fit: here none, so none is taken (and none jumps ahead of the others).
    expect(o.store.append([json('e', 'a'), json('e', 'b'), json('e', 'c')])).toEqual({
      full: true,
      stored: 0,
      duplicates: 0,
      accepted: 0,
    });
    expect(o.store.counts()).toEqual(before);
    expectBytesTrue(o);
    expect(rows(o.db).length).toBe(accepted);
    expect(before).toMatchObject({ received: accepted, pending: accepted, dropped: 0 });

    // Delivering frees room: delivered events kept for the log give way to new ones.
    for (const r of rows(o.db).slice(0, 3)) settle(o.store, 'cloud', r.seq, 'delivered');
    o.store.commitResults();
    expect(o.store.append([json('e', 'next')])).toMatchObject({ full: false, stored: 1 });
    expect(rows(o.db).at(-1)!.seq).toBe(accepted + 1);
    const after = o.store.counts();
    expect(after).toMatchObject({ received: accepted + 1, delivered: 3, dropped: 0 });
    expect(after.bytes).toBeLessThanOrEqual(maxBytes);
    expectBalanced(after);
    expectBytesTrue(o);
  });

  it('stop-ingest: prune() of delivered events past keepDeliveredHours makes room too', () => {
    const o = open({ maxBytes: 5000, whenFull: 'stop-ingest', keepDeliveredHours: 1 });
    while (!o.store.append([json('e', 'fill')]).full) {
      /* fill */
    }
    for (const r of rows(o.db)) settle(o.store, 'cloud', r.seq, 'delivered');
    o.store.commitResults();
    const full = o.store.counts().bytes;
    clock.t += 2 * HOUR;
    expect(o.store.prune()).toBeGreaterThan(0);
    expect(o.store.counts().bytes).toBeLessThan(full);
    expectBytesTrue(o);
    expect(o.store.append([json('e', 'room')]).full).toBe(false);
  });
});

describe('OutboxStore when a write fails', () => {
  it('a failed append changes neither the rows nor the byte total, so a later one drops nothing', () => {
    const maxBytes = 20_000;
    const o = open({ maxBytes });
    for (let i = 0; i < 20; i++) o.store.append([json('e', { i, pad: 'x'.repeat(200) })]);
    const before = o.store.counts();
    expectBytesTrue(o);
    // A real SQLite error in the middle of the transaction: the second message of each batch
    // fails, after the first one's rows and bytes were written.
    o.db.exec(
      `CREATE TRIGGER fail_event BEFORE INSERT ON events WHEN NEW.body LIKE '%"fail":true%'
       BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`,
    );
    for (let k = 0; k < 10; k++) {
      const batch = [json('e', { k, pad: 'y'.repeat(700) }), json('e', { k, fail: true })];
      expect(() => o.store.append(batch)).toThrow(/injected write failure/);
    }
    expect(o.store.counts()).toEqual(before);
    expectBytesTrue(o);
    o.db.exec(`DROP TRIGGER fail_event`);
    // Had the failed appends' bytes stayed in memory, this one would not fit without dropping.
    expect(o.store.append([json('e', { pad: 'z'.repeat(700) })])).toMatchObject({ stored: 1 });
    expect(o.store.counts()).toMatchObject({ received: 21, pending: 21, dropped: 0 });
    expectBytesTrue(o);
  });
});

describe('OutboxStore.prune', () => {
  it('removes delivered events older than keepDeliveredHours and keeps pending and failed ones', () => {
    const o = open({ keepDeliveredHours: 24 });
    o.store.append([json('e', 1), json('e', 2), json('e', 3), json('e', 4)]);
    settle(o.store, 'cloud', 1, 'delivered');
    settle(o.store, 'cloud', 3, 'failed');
    o.store.commitResults();
    clock.t += 10 * HOUR;
    settle(o.store, 'cloud', 4, 'delivered');
    o.store.commitResults();

    clock.t += 14 * HOUR - 1; // event 1 delivered 24 h - 1 ms ago
    expect(o.store.prune()).toBe(0);
    clock.t += 2;
    expect(o.store.prune()).toBe(1);
    expect(rows(o.db).map((r) => [r.seq, r.state])).toEqual([
      [2, 'pending'],
      [3, 'failed'],
      [4, 'delivered'],
    ]);
    clock.t += 10 * HOUR;
    expect(o.store.prune()).toBe(1);
    clock.t += 1000 * HOUR;
    expect(o.store.prune()).toBe(0);
    expect(rows(o.db).map((r) => [r.seq, r.state])).toEqual([
      [2, 'pending'],
      [3, 'failed'],
    ]);
    const c = o.store.counts();
    expect(c).toMatchObject({ received: 4, delivered: 2, pending: 1, failed: 1 });
    expectBytesTrue(o);
    expect(o.db.prepare(`SELECT count(*) FROM deliveries WHERE event_seq IN (1, 4)`).pluck().get()).toBe(0);
    expectBalanced(c);
  });
});
