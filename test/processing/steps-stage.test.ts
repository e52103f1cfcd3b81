import { describe, expect, it } from 'vitest';
import { subscriptionSchema, type SubscriptionConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { chainStages } from '../../src/outbox/ingest-stage.js';
import type { NewEvent } from '../../src/outbox/outbox-store.js';
import { StepStateStore } from '../../src/processing/step-state-store.js';
import { StepTimers } from '../../src/processing/step-timers.js';
import { StepsStage } from '../../src/processing/steps-stage.js';
import { clock, crashAndReopen, open, rows, useStoreFixture, type Opened } from '../outbox/store-fixture.js';

/**
 * The steps inside the ingest commit, on a real SQLite outbox with a clock the test moves
 * (README, "Edge processing"): what is stored, what is counted, and what state survives.
 */

useStoreFixture();

function sub(cfg: Record<string, unknown>): SubscriptionConfig {
  return subscriptionSchema.parse({ topic: 'sensors/+/temperature', type: 'temp.{1}', key: '{1}', ...cfg });
}

function setup(subs: SubscriptionConfig[], o: Opened = open(), maxKeys = 1000) {
  const stage = new StepsStage({
    store: new StepStateStore(o.db, o.store.ledger),
    subscriptions: subs,
    maxKeys,
    logger: silentLogger(),
  });
  o.store.setIngestStage(chainStages([stage]));
  const timers = new StepTimers({ stage, outbox: o.store, clock, logger: silentLogger() });
  return { o, stage, timers };
}

let packetId = 0;
function msg(
  value: unknown,
  opts: { room?: string; sub?: number; dup?: boolean; id?: number } = {},
): NewEvent {
  const text = JSON.stringify(value);
  const id = opts.id ?? ++packetId;
  return {
    topic: `sensors/${opts.room ?? 'kitchen'}/temperature`,
    type: `temp.${opts.room ?? 'kitchen'}`,
    receivedAt: clock.now(),
    payload: Buffer.from(text),
    data: { kind: 'json', json: text },
    subscription: opts.sub ?? 0,
    mqtt: { messageId: id, qos: 1, dup: opts.dup ?? false },
  };
}

function stored(o: Opened) {
  return rows(o.db).map((r) => {
    const body = JSON.parse(r.body) as { data: unknown; type: string; timestamp: string };
    return { state: r.state, data: body.data, type: body.type, reason: reasonOf(o, r.seq) };
  });
}

function reasonOf(o: Opened, seq: number): string | null {
  return o.db.prepare('SELECT reject_reason FROM events WHERE seq = ?').pluck().get(seq) as string | null;
}

function countsOf(stage: StepsStage, i = 0) {
  const c = stage.counts()[i]!.counts;
  // Every message is counted under exactly one outcome.
  expect(c.messages).toBe(c.reported + c.filtered + c.held + c.rejected);
  return c;
}

describe('steps in the ingest commit', () => {
  it('filter, map and deadband: only what passes is stored, and the counts add up', () => {
    const { o, stage } = setup([
      sub({
        steps: [
          { filter: 'celsius > -40 and celsius < 125' },
          { map: '{"celsius": celsius, "room": $levels[1], "key": $key}' },
          { deadband: { path: 'celsius', by: 0.5 } },
        ],
      }),
    ]);
    o.store.append([
      msg({ celsius: 20 }),
      msg({ celsius: 20.2 }),
      msg({ celsius: 500 }),
      msg({ celsius: 20.6 }),
    ]);
    expect(stored(o).map((e) => e.data)).toEqual([
      { celsius: 20, room: 'kitchen', key: 'kitchen' },
      { celsius: 20.6, room: 'kitchen', key: 'kitchen' },
    ]);
    expect(countsOf(stage)).toMatchObject({
      messages: 4,
      reported: 2,
      filtered: 2,
      held: 0,
      rejected: 0,
      events: 2,
    });
  });

  it('an unchanged payload is stored byte for byte as the device sent it', () => {
    const { o } = setup([sub({ steps: [{ deadband: { path: 'v' } }] })]);
    const m = msg({ v: 1 });
    const text = '{"v":1.50, "unit":"C"}';
    o.store.append([{ ...m, payload: Buffer.from(text), data: { kind: 'json', json: text } }]);
    expect(rows(o.db)[0]!.body).toContain('"data":{"v":1.50, "unit":"C"}');
  });

  it('split: one event per element, in order; a single value is one event; nothing is filtered', () => {
    const { o, stage } = setup([sub({ steps: [{ split: 'readings' }, { map: '{"v": $}' }] })]);
    o.store.append([msg({ readings: [3, 1, 2] }), msg({ readings: 9 }), msg({ other: 1 })]);
    expect(stored(o).map((e) => e.data)).toEqual([{ v: 3 }, { v: 1 }, { v: 2 }, { v: 9 }]);
    expect(countsOf(stage)).toMatchObject({ messages: 3, reported: 2, filtered: 1, events: 4 });
  });

  it('a step that cannot apply keeps the message as rejected, naming the step, and leaves no state behind', () => {
    const { o, stage } = setup([
      sub({ steps: [{ split: 'readings' }, { window: { seconds: 60, path: 'v' } }] }),
      sub({
        topic: 'loop/#',
        key: undefined,
        steps: [{ map: '($f := function($n) { $f($n + 1) }; $f(0))' }],
      }),
    ]);
    // The second element is not a number: the first one's contribution must be undone too.
    o.store.append([msg({ readings: [{ v: 1 }, { v: 'x' }] }), msg({ readings: [{ v: 5 }] })]);
    o.store.append([{ ...msg({ a: 1 }), topic: 'loop/a', subscription: 1 }]);
    const events = stored(o);
    expect(events.map((e) => e.state)).toEqual(['rejected', 'rejected']);
    expect(events[0]!.reason).toMatch(
      /^subscriptions\[0\]\.steps\[1\]\.window: the value at v is not a number/,
    );
    expect(events[1]!.reason).toMatch(/^subscriptions\[1\]\.steps\[0\]\.map: .*(stack|depth|timeout)/i);
    clock.t += 60_000;
    new StepTimers({ stage, outbox: o.store, clock, logger: silentLogger() }).runDue();
    expect(stored(o)[2]!.data).toMatchObject({ count: 1, min: 5, max: 5 });
    expect(countsOf(stage)).toMatchObject({ messages: 2, rejected: 1, held: 1, events: 2, emitted: 1 });
    expect(countsOf(stage, 1)).toMatchObject({ messages: 1, rejected: 1 });
  });

  it('throttle: the newest held message is emitted by the timer with its own time; a single message gives no trailing duplicate', () => {
    const { o, stage, timers } = setup([sub({ steps: [{ throttle: { intervalMs: 1000 } }] })]);
    o.store.append([msg({ v: 1 })]);
    clock.t += 1500;
    expect(timers.runDue()).toBe(0);
    o.store.append([msg({ v: 2 })]);
    clock.t += 100;
    const held = clock.now();
    o.store.append([msg({ v: 3 })]);
    clock.t += 200;
    o.store.append([msg({ v: 4 })]);
    clock.t += 700;
    expect(timers.runDue()).toBe(1);
    expect(stored(o).map((e) => e.data)).toEqual([{ v: 1 }, { v: 2 }, { v: 4 }]);
    expect(JSON.parse(rows(o.db)[2]!.body).timestamp).toBe(new Date(held + 200).toISOString());
    expect(countsOf(stage)).toMatchObject({ messages: 4, reported: 2, held: 2, events: 3, emitted: 1 });
  });

  it('window: state survives a crash; windows that ended while down are emitted at start, once', () => {
    const s = sub({ steps: [{ window: { seconds: 60, path: 'celsius' } }] });
    const first = setup([s]);
    clock.t = Date.UTC(2026, 11, 3, 5, 0, 10);
    first.o.store.append([
      msg({ celsius: 20 }),
      msg({ celsius: 22 }, { room: 'hall' }),
      msg({ celsius: 24 }),
    ]);
    // Crash: the process goes; the database file stays. Down for ten minutes.
    const o = crashAndReopen(first.o);
    clock.t += 600_000;
    const { stage, timers } = setup([s], o);
    expect(timers.runDue()).toBe(2);
    expect(timers.runDue()).toBe(0);
    const data = stored(o).map((e) => e.data);
    expect(data).toContainEqual({
      count: 2,
      min: 20,
      max: 24,
      avg: 22,
      first: 20,
      last: 24,
      from: '2026-12-03T05:00:00.000Z',
      to: '2026-12-03T05:01:00.000Z',
    });
    expect(data).toContainEqual(expect.objectContaining({ count: 1, first: 22 }));
    expect(JSON.parse(rows(o.db)[0]!.body).timestamp).toBe('2026-12-03T05:01:00.000Z');
    expect(countsOf(stage)).toMatchObject({ messages: 3, held: 3, events: 2, emitted: 2 });
  });

  it('deadband and throttle state survive a crash', () => {
    const s = sub({ steps: [{ deadband: { path: 'v', by: 10 } }, { throttle: { intervalMs: 60_000 } }] });
    const first = setup([s]);
    first.o.store.append([msg({ v: 0 }), msg({ v: 10 })]);
    const { o, timers } = setup([s], crashAndReopen(first.o));
    // 15 is within the band of 10 (the last reported): filtered. 20 passes the band but is held
    // by the throttle whose interval started with 0.
    o.store.append([msg({ v: 15 }), msg({ v: 20 })]);
    clock.t += 60_000;
    timers.runDue();
    expect(stored(o).map((e) => e.data)).toEqual([{ v: 0 }, { v: 20 }]);
  });

  it('a recognised redelivery is neither stored nor counted again, nor added to the window twice', () => {
    const { o, stage, timers } = setup([sub({ steps: [{ window: { seconds: 60, path: 'v' } }] })]);
    clock.t = Date.UTC(2026, 11, 3, 5, 0, 0);
    o.store.append([msg({ v: 1 }, { id: 7 }), msg({ v: 2 }, { id: 8 })]);
    o.store.append([msg({ v: 2 }, { id: 8, dup: true })]);
    clock.t += 60_000;
    timers.runDue();
    expect(stored(o).map((e) => e.data)).toEqual([expect.objectContaining({ count: 2, max: 2 })]);
    expect(countsOf(stage)).toMatchObject({ messages: 2, held: 2 });
  });

  it('stop-ingest: in a group that does not fit, the messages before the first that does not are stored with their state; its state and counts are not', () => {
    const { o, stage } = setup(
      [sub({ steps: [{ deadband: { path: 'v', by: 1 } }] })],
      open({ whenFull: 'stop-ingest' }),
    );
    o.store.append([msg({ v: 10 })]);
    const bytes = o.store.counts().bytes;
    o.store.setStorage({
      maxBytes: Math.floor(bytes * 2.5),
      whenFull: 'stop-ingest',
      keepDeliveredHours: 24,
    });
    const r = o.store.append([msg({ v: 20 }, { room: 'hall' }), msg({ v: 30 }, { room: 'attic' })]);
    expect(r).toMatchObject({ full: true, stored: 1, accepted: 1 });
    expect(stored(o).map((e) => e.data)).toEqual([{ v: 10 }, { v: 20 }]);
    const keys = o.db.prepare('SELECT key FROM step_state ORDER BY key').pluck().all();
    expect(keys).toEqual(['hall', 'kitchen']);
    expect(countsOf(stage)).toMatchObject({ messages: 2, reported: 2 });
  });

  it('a commit that fails leaves the step state and the counts as they were', () => {
    const o = open();
    const stage = new StepsStage({
      store: new StepStateStore(o.db, o.store.ledger),
      subscriptions: [sub({ steps: [{ deadband: { path: 'v', by: 1 } }] })],
      maxKeys: 1000,
      logger: silentLogger(),
    });
    let fail = true;
    const boom = {
      process(ev: NewEvent) {
        if (fail) throw new Error('disk I/O error');
        return [ev];
      },
    };
    o.store.setIngestStage(chainStages([stage, boom]));
    expect(() => o.store.append([msg({ v: 10 })])).toThrow(/disk I\/O/);
    fail = false;
    // Had the failed commit moved the deadband to 10, 10.5 would be filtered.
    o.store.append([msg({ v: 10.5 })]);
    expect(stored(o).map((e) => e.data)).toEqual([{ v: 10.5 }]);
    expect(stage.counts()[0]!.counts).toMatchObject({ messages: 1, reported: 1 });
  });

  it('processing.maxKeys: the least recently used key is flushed (its open window emitted early) and counted', () => {
    const { o, stage } = setup([sub({ steps: [{ window: { seconds: 60, path: 'v' } }] })], open(), 2);
    clock.t = Date.UTC(2026, 11, 3, 5, 0, 0);
    o.store.append([msg({ v: 1 }, { room: 'a' })]);
    clock.t += 1000;
    o.store.append([msg({ v: 2 }, { room: 'b' })]);
    clock.t += 1000;
    o.store.append([msg({ v: 3 }, { room: 'c' })]);
    expect(stored(o).map((e) => [e.type, e.data])).toEqual([
      ['temp.a', expect.objectContaining({ count: 1, max: 1 })],
    ]);
    expect(o.db.prepare('SELECT count(*) FROM step_state').pluck().get()).toBe(2);
    expect(countsOf(stage)).toMatchObject({ messages: 3, held: 3, evicted: 1, emitted: 1 });
  });

  it('subscriptions without steps are counted too', () => {
    const { o, stage } = setup([sub({})]);
    o.store.append([
      msg({ v: 1 }),
      { ...msg(null), data: { kind: 'binary' }, rejected: 'payload is not JSON' },
    ]);
    expect(countsOf(stage)).toMatchObject({ messages: 2, reported: 1, rejected: 1, events: 2 });
  });
});
