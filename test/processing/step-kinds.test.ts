import { describe, expect, it } from 'vitest';
import {
  deadband,
  type DeadbandConfig,
  type DeadbandState,
  type Item,
  throttleArrive,
  throttleDue,
  type ThrottleState,
  windowAggregate,
  windowArrive,
  windowDue,
  type WindowState,
} from '../../src/processing/step-kinds.js';

/** The stateful steps' semantics, table-driven, on a fake clock (README, "Edge processing"). */

const item = (data: unknown, t: number): Item => ({
  data,
  json: undefined,
  topic: 's/1',
  type: 'x',
  receivedAt: t,
});

/** Feeds values at times through a deadband; returns which passed. */
function runDeadband(cfg: DeadbandConfig, values: [unknown, number][]): boolean[] {
  let state: DeadbandState | undefined;
  return values.map(([v, t]) => {
    const r = deadband(cfg, state, v, t);
    state = r.state;
    return r.pass;
  });
}

describe('deadband', () => {
  const cases: [string, DeadbandConfig, [unknown, number][], boolean[]][] = [
    [
      'absolute: first passes, then only moves of at least by from the last reported',
      { by: { abs: 0.5 } },
      [
        [20, 0],
        [20.3, 1],
        [20.49, 2],
        [20.5, 3],
        [20.1, 4],
        [19.99, 5],
      ],
      [true, false, false, true, false, true],
    ],
    [
      'absolute: drift does not accumulate against the last seen value',
      { by: { abs: 1 } },
      [
        [10, 0],
        [10.4, 1],
        [10.8, 2],
        [11, 3],
      ],
      [true, false, false, true],
    ],
    [
      'percent of the last reported value',
      { by: { percent: 10 } },
      [
        [100, 0],
        [109, 1],
        [110, 2],
        [120, 3],
        [121, 4],
      ],
      [true, false, true, false, true],
    ],
    [
      'percent of the range',
      { by: { percent: 5 }, range: [0, 200] },
      [
        [100, 0],
        [109, 1],
        [110, 2],
        [101, 3],
      ],
      [true, false, true, false],
    ],
    [
      'percent of a last value of 0: any change passes',
      { by: { percent: 10 } },
      [
        [0, 0],
        [0, 1],
        [0.001, 2],
      ],
      [true, false, true],
    ],
    [
      'without by: any change passes, repeats do not',
      {},
      [
        [1, 0],
        [1, 1],
        [2, 2],
        [2, 3],
      ],
      [true, false, true, false],
    ],
    [
      'non-numeric values pass when not equal to the last reported',
      { by: { abs: 5 } },
      [
        ['on', 0],
        ['on', 1],
        ['off', 2],
        [{ a: 1 }, 3],
        [{ a: 1 }, 4],
      ],
      [true, false, true, true, false],
    ],
    [
      'numeric strings are not parsed: "21.5" after 21.5 is a change',
      { by: { abs: 5 } },
      [
        [21.5, 0],
        ['21.5', 1],
        ['21.6', 2],
        ['21.6', 3],
      ],
      [true, true, true, false],
    ],
    [
      'maxSilence: the first message after the silence passes anyway',
      { by: { abs: 5 }, maxSilenceMs: 300_000 },
      [
        [20, 0],
        [20.1, 299_999],
        [20.1, 300_000],
        [20.2, 400_000],
        [20.2, 600_000],
      ],
      [true, false, true, false, true],
    ],
  ];
  it.each(cases)('%s', (_name, cfg, values, expected) => {
    expect(runDeadband(cfg, values)).toEqual(expected);
  });
});

describe('throttle', () => {
  it('a single message passes at once and leaves nothing to emit later (no trailing duplicate)', () => {
    const r = throttleArrive(1000, undefined, item(1, 0), 0);
    expect(r.pass).toBe(true);
    expect(r.state.held).toBeUndefined();
    expect(throttleDue(1000, r.state, 5000).emit).toBeUndefined();
  });

  it('holds the newest within the interval and emits it, with its own receive time, when the interval ends', () => {
    let s: ThrottleState = throttleArrive(1000, undefined, item('a', 0), 0).state;
    const b = throttleArrive(1000, s, item('b', 200), 200);
    const c = throttleArrive(1000, b.state, item('c', 700), 700);
    expect([b.pass, c.pass]).toEqual([false, false]);
    expect(throttleDue(1000, c.state, 999).emit).toBeUndefined();
    const due = throttleDue(1000, c.state, 1000);
    expect(due.emit).toMatchObject({ json: '"c"', receivedAt: 700 });
    s = due.state;
    // The release starts the next interval: a message within it is held again.
    expect(throttleArrive(1000, s, item('d', 1500), 1500).pass).toBe(false);
    // ...and after it, with nothing held, the key is quiet again.
    expect(throttleArrive(1000, s, item('e', 2000), 2000).pass).toBe(true);
  });

  it('a message after an overdue interval releases the held one first', () => {
    const s = throttleArrive(
      1000,
      throttleArrive(1000, undefined, item('a', 0), 0).state,
      item('b', 10),
      10,
    ).state;
    const late = throttleArrive(1000, s, item('c', 2500), 2500);
    expect(late.overdue).toMatchObject({ json: '"b"' });
    expect(late.pass).toBe(true);
  });
});

describe('window', () => {
  const feed = (ms: number, values: [number, number][], state?: WindowState) => {
    const closed: WindowState[] = [];
    let s = state;
    for (const [v, t] of values) {
      const r = windowArrive(ms, s, v, item(v, t), t);
      if (r.closed) closed.push(r.closed);
      s = r.state;
    }
    return { closed, state: s! };
  };

  it('aligns windows to the clock and aggregates count/min/max/avg/first/last/from/to', () => {
    const base = Date.UTC(2026, 11, 3, 5, 0, 0);
    const { state } = feed(60_000, [
      [3, base + 12_000],
      [1, base + 30_000],
      [8, base + 59_999],
    ]);
    expect(state.start).toBe(base);
    const done = windowDue(60_000, state, base + 60_000);
    expect(windowAggregate(done.closed!)).toEqual({
      count: 3,
      min: 1,
      max: 8,
      avg: 4,
      first: 3,
      last: 8,
      from: '2026-12-03T05:00:00.000Z',
      to: '2026-12-03T05:01:00.000Z',
    });
    expect(windowDue(60_000, state, base + 59_999).closed).toBeUndefined();
  });

  it('empty windows emit nothing', () => {
    const { state } = feed(10_000, [[1, 5_000]]);
    const first = windowDue(10_000, state, 10_000);
    expect(first.closed?.count).toBe(1);
    // The next window stays empty: its end emits nothing, and a value long after opens a fresh one.
    expect(windowDue(10_000, first.state, 20_000).closed).toBeUndefined();
    const later = feed(10_000, [[2, 95_000]], first.state);
    expect(later.closed).toEqual([]);
    expect(later.state.start).toBe(90_000);
  });

  it('a value past the end closes the open window on arrival', () => {
    const { closed, state } = feed(10_000, [
      [1, 1_000],
      [2, 2_000],
      [5, 12_000],
    ]);
    expect(closed.map((w) => [w.start, w.count])).toEqual([[0, 2]]);
    expect([state.start, state.count]).toEqual([10_000, 1]);
  });

  it('a clock step back: the value joins the open window, no window is emitted twice', () => {
    const { closed, state } = feed(10_000, [
      [1, 25_000],
      [2, 3_000],
    ]);
    expect(closed).toEqual([]);
    expect([state.start, state.count, state.min]).toEqual([20_000, 2, 1]);
    // Closed by its timer, then a value received before its end (stored late) joins the next one.
    const after = windowDue(10_000, state, 30_000);
    const late = feed(10_000, [[7, 29_999]], after.state);
    expect(late.closed).toEqual([]);
    expect([late.state.start, late.state.count]).toEqual([30_000, 1]);
  });

  it('a clock step forward closes the window at its end; the next value opens its own aligned window', () => {
    const { closed, state } = feed(60_000, [
      [1, 1_000],
      [2, 3_601_000],
    ]);
    expect(closed).toHaveLength(1);
    expect(state.start).toBe(3_600_000);
  });
});
