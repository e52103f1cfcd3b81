import { describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/outbox/open-db.js';
import type { AttemptRecord } from '../../src/outbox/outbox-store.js';
import {
  clock,
  dbBytes,
  expectBalanced,
  json,
  open,
  rows,
  settle,
  useStoreFixture,
} from './store-fixture.js';

/**
 * The outbox when SQLite refuses a write. A trigger makes the chosen statement fail inside its
 * transaction, exactly where a full disk or an I/O error would (the real disk faults are
 * exercised end to end in test/durability/failing-writes.test.ts). Each case was a fault of the
 * outbox before its transactional seam; each fails against that code.
 */

useStoreFixture();

/** From now on, every INSERT into `table` fails (and its transaction rolls back). */
function failInserts(db: Db, table: 'events' | 'attempts' | 'deliveries'): () => void {
  db.exec(
    `CREATE TRIGGER fail_${table} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`,
  );
  return () => db.exec(`DROP TRIGGER fail_${table}`);
}

/**
 * From now on, storing an event of topic "t/bad" fails: in a group commit with good events
 * before it, the transaction fails after those were written, as a disk that fills mid-commit.
 */
function failBadTopic(db: Db): () => void {
  db.exec(
    `CREATE TRIGGER fail_bad BEFORE INSERT ON events WHEN NEW.topic = 't/bad' BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`,
  );
  return () => db.exec(`DROP TRIGGER fail_bad`);
}

const bad = () => json('bad', { pad: 'z'.repeat(100) });

function failUpdates(db: Db, table: 'deliveries'): () => void {
  db.exec(
    `CREATE TRIGGER failu_${table} BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`,
  );
  return () => db.exec(`DROP TRIGGER failu_${table}`);
}

function event(i: number) {
  return json('sensor', { i, pad: 'x'.repeat(100) });
}

describe('failed appends change nothing in memory', () => {
  it('after 10 failed appends and one success, nothing undelivered is dropped and bytes match the rows', () => {
    const o = open({ maxBytes: 20_000 });
    for (let i = 0; i < 20; i++) o.store.append([event(i)]);
    const before = o.store.counts();
    expect(before.bytes).toBe(dbBytes(o.db));
    expect(before.bytes).toBeLessThan(10_000);

    const heal = failBadTopic(o.db);
    for (let i = 0; i < 10; i++) expect(() => o.store.append([event(100 + i), bad()])).toThrow(/injected/);
    expect(o.store.counts().bytes).toBe(before.bytes);
    heal();

    expect(o.store.append([event(200)]).stored).toBe(1);
    const after = o.store.counts();
    expect(after.dropped).toBe(0);
    expect(after.pending).toBe(21);
    expect(after.bytes).toBe(dbBytes(o.db));
    expectBalanced(after);
  });

  it('with stop-ingest, 40 failed appends do not leave the outbox believing it is full', () => {
    const o = open({ maxBytes: 20_000, whenFull: 'stop-ingest' });
    for (let i = 0; i < 20; i++) o.store.append([event(i)]);
    const heal = failBadTopic(o.db);
    for (let i = 0; i < 40; i++) expect(() => o.store.append([event(100 + i), bad()])).toThrow();
    heal();
    expect(o.store.append([event(200)])).toMatchObject({ full: false, stored: 1 });
  });

  it('counters bumped inside a failed transaction are not counted', () => {
    const o = open();
    o.store.append([event(1)]);
    const heal = failBadTopic(o.db);
    expect(() => o.store.append([event(2), event(3), bad()])).toThrow();
    heal();
    expect(o.store.counts().received).toBe(1);
    expect(o.store.counts().bytes).toBe(dbBytes(o.db));
    expect(rows(o.db)).toHaveLength(1);
  });
});

describe('listeners hear only committed facts', () => {
  it('no drop notice for events a rolled-back transaction would have dropped', () => {
    const o = open({ maxBytes: 4_000 });
    for (let i = 0; i < 10; i++) o.store.append([event(i)]);
    const held = rows(o.db).map((r) => r.seq);
    const droppedBefore = o.store.counts().dropped;
    const removed: number[] = [];
    o.store.onRemoved((seqs) => removed.push(...seqs));
    // The new event needs room: making it drops the oldest, then its insert fails.
    const heal = failInserts(o.db, 'deliveries');
    expect(() => o.store.append([json('sensor', { big: 'y'.repeat(2_000) })])).toThrow();
    heal();
    expect(removed).toEqual([]);
    expect(rows(o.db).map((r) => r.seq)).toEqual(held);
    expect(o.store.counts().dropped).toBe(droppedBefore);
    expect(o.store.counts().bytes).toBe(dbBytes(o.db));

    // Committed, the same drop is told.
    o.store.append([json('sensor', { big: 'y'.repeat(2_000) })]);
    expect(removed.length).toBeGreaterThan(0);
    expect(removed).toEqual(held.slice(0, removed.length));
    expect(o.store.counts().dropped).toBe(droppedBefore + removed.length);
  });

  it('a results listener that throws never makes the append run again (no double storage)', () => {
    const o = open();
    o.store.append([event(1)]);
    o.store.onResults(() => {
      throw new Error('listener bug');
    });
    settle(o.store, 'cloud', 1, 'delivered');
    // The queued result rides along with this append; the listener throws after the commit.
    expect(o.store.append([event(2)]).stored).toBe(1);
    expect(rows(o.db).map((r) => r.seq)).toEqual([1, 2]);
    expect(o.store.counts()).toMatchObject({ received: 2, delivered: 1, pending: 1 });
  });

  it('an append listener that throws does not undo or repeat the commit', () => {
    const o = open();
    o.store.onAppend(() => {
      throw new Error('listener bug');
    });
    expect(o.store.append([event(1)]).stored).toBe(1);
    expect(rows(o.db)).toHaveLength(1);
  });
});

describe('delivery results survive a failed commit (they were lost before)', () => {
  it('results stay queued when their commit fails, and commit once it can', () => {
    const o = open();
    o.store.append([event(1), event(2)]);
    const heal = failUpdates(o.db, 'deliveries');
    settle(o.store, 'cloud', 1, 'delivered');
    expect(() => o.store.commitResults()).toThrow(/injected/);
    expect(o.store.counts().delivered).toBe(0);
    heal();
    o.store.commitResults();
    expect(o.store.counts()).toMatchObject({ delivered: 1, pending: 1 });
  });

  it('a failing result commit does not keep messages from being stored, nor store them twice', () => {
    const o = open();
    o.store.append([event(1)]);
    const heal = failUpdates(o.db, 'deliveries');
    settle(o.store, 'cloud', 1, 'delivered');
    expect(o.store.append([event(2)]).stored).toBe(1);
    expect(rows(o.db).map((r) => r.seq)).toEqual([1, 2]);
    heal();
    o.store.commitResults();
    expect(o.store.counts()).toMatchObject({ received: 2, delivered: 1, pending: 1 });
  });
});

describe('no path from a timer or callback throws (each was an uncaught exception)', () => {
  it("record()'s inline commit at 512 queued results", () => {
    const o = open();
    o.store.append(Array.from({ length: 600 }, (_, i) => event(i)));
    const heal = failUpdates(o.db, 'deliveries');
    const records: AttemptRecord[] = [];
    expect(() => {
      for (let seq = 1; seq <= 600; seq++) {
        const rec: AttemptRecord = {
          endpointId: 'cloud',
          seq,
          at: clock.now(),
          outcome: 'delivered',
          newStatus: 'delivered',
          attempted: true,
          status: 200,
          durationMs: 1,
        };
        records.push(rec);
        o.store.record(rec);
      }
    }).not.toThrow();
    heal();
    o.store.commitResults();
    expect(o.store.counts().delivered).toBe(600);
    o.store.close();
  });

  it('the results timer (OutboxStore.commitResults from setTimeout)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const o = open();
      o.store.append([event(1)]);
      const heal = failUpdates(o.db, 'deliveries');
      settle(o.store, 'cloud', 1, 'delivered');
      // The timer fires and fails; before, this threw out of the timer and killed the process.
      expect(() => vi.advanceTimersByTime(10)).not.toThrow();
      expect(o.store.counts().delivered).toBe(0);
      heal();
      vi.advanceTimersByTime(1_000);
      expect(o.store.counts().delivered).toBe(1);
      o.store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('loadDue (the retry sweep) reads even when the queued results cannot be committed', () => {
    const o = open();
    o.store.append([event(1)]);
    const heal = failUpdates(o.db, 'deliveries');
    settle(o.store, 'cloud', 1, 'delivered');
    expect(o.store.loadDue('cloud', 10, clock.now(), 10).map((d) => d.seq)).toEqual([1]);
    heal();
    o.store.close();
  });

  it('close() still stops the WAL sync when its last commit fails', () => {
    const o = open();
    o.store.append([event(1)]);
    failUpdates(o.db, 'deliveries');
    settle(o.store, 'cloud', 1, 'delivered');
    expect(() => o.store.close()).not.toThrow();
    let called = false;
    o.store.afterDurable(() => {
      called = true;
    });
    // Closed: no callback runs any more (before, the WalSync stayed open after a failed close).
    expect(called).toBe(false);
  });

  it('clearInflight throws to its caller, and leaves the acked ids for the next commit', () => {
    const o = open();
    o.store.append([json('sensor', 1, { mqtt: { messageId: 7, qos: 1, dup: false } })]);
    o.db.exec(
      `CREATE TRIGGER fail_inflight BEFORE DELETE ON mqtt_inflight BEGIN SELECT RAISE(ABORT, 'injected'); END`,
    );
    expect(() => o.store.clearInflight()).toThrow(/injected/);
    o.db.exec('DROP TRIGGER fail_inflight');
    o.store.clearInflight();
    expect(o.db.prepare('SELECT count(*) FROM mqtt_inflight').pluck().get()).toBe(0);
  });
});

describe('operator actions commit whole or not at all', () => {
  it('deleteDeliveriesOf: a failure leaves every delivery and count as it was', () => {
    const o = open({ endpoints: [{ id: 'a', types: ['*'] }] });
    o.store.append([event(1), event(2)]);
    const removed: number[] = [];
    o.store.onRemoved((s) => removed.push(...s));
    o.db.exec(`CREATE TRIGGER fail_del BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    expect(() => o.store.deleteDeliveriesOf('a')).toThrow(/injected/);
    expect(removed).toEqual([]);
    expect(o.store.counts()).toMatchObject({ pending: 2, deleted: 0 });
    expect(o.store.counts().bytes).toBe(dbBytes(o.db));
    o.db.exec('DROP TRIGGER fail_del');
    expect(o.store.deleteDeliveriesOf('a')).toBe(2);
    expect(removed).toEqual([1, 2]);
  });
});
