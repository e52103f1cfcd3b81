/**
 * The stateful step kinds as pure functions of (state, input, time) → (decision, new state), so
 * their semantics are tested without a database (README, "Edge processing"). The stage keeps
 * their state in SQLite; nothing here holds any.
 */

/** A message (or a value derived from it) on its way through the steps. */
export interface Item {
  data: unknown;
  /** The JSON text of `data` while it is still what the device sent (kept as is on output). */
  json: string | undefined;
  topic: string;
  type: string;
  receivedAt: number;
}

/** What the state keeps of an item: plain JSON. */
export interface StoredItem {
  json: string;
  topic: string;
  type: string;
  receivedAt: number;
  /** The JSON text is what the device sent (no step changed it). */
  raw: boolean;
}

export function storeItem(item: Item): StoredItem {
  return {
    json: item.json ?? JSON.stringify(item.data) ?? 'null',
    topic: item.topic,
    type: item.type,
    receivedAt: item.receivedAt,
    raw: item.json !== undefined,
  };
}

export function loadItem(s: StoredItem): Item {
  return {
    data: JSON.parse(s.json),
    json: s.raw ? s.json : undefined,
    topic: s.topic,
    type: s.type,
    receivedAt: s.receivedAt,
  };
}

// ---- deadband ---------------------------------------------------------------------------

export interface DeadbandConfig {
  by?: { abs: number } | { percent: number };
  range?: readonly [number, number];
  maxSilenceMs?: number;
}

export interface DeadbandState {
  /** The last reported value. */
  v: unknown;
  /** When it was reported (the message's receive time). */
  t: number;
}

/** Passes the first value of a key, a big enough change, and the first value after maxSilence. */
export function deadband(
  cfg: DeadbandConfig,
  state: DeadbandState | undefined,
  value: unknown,
  t: number,
): { pass: boolean; state: DeadbandState | undefined } {
  const pass =
    state === undefined ||
    (cfg.maxSilenceMs !== undefined && t - state.t >= cfg.maxSilenceMs) ||
    changedEnough(cfg, state.v, value);
  return { pass, state: pass ? { v: value, t } : state };
}

function changedEnough(cfg: DeadbandConfig, last: unknown, value: unknown): boolean {
  // Numbers are never parsed out of strings: "21.5" and 21.5 are different values.
  if (typeof last !== 'number' || typeof value !== 'number')
    return JSON.stringify(last) !== JSON.stringify(value);
  const diff = Math.abs(value - last);
  if (diff === 0) return false;
  if (cfg.by === undefined) return true;
  if ('abs' in cfg.by) return diff >= cfg.by.abs;
  const span = cfg.range ? cfg.range[1] - cfg.range[0] : Math.abs(last);
  return diff >= (cfg.by.percent / 100) * span;
}

// ---- throttle ---------------------------------------------------------------------------

export interface ThrottleState {
  /** End of the running interval. */
  until: number;
  /** The newest message that arrived within it, to be emitted at `until`. */
  held?: StoredItem;
}

/**
 * A message arrives at `t`. A held message whose interval ended before `t` (its timer did not
 * run yet) is emitted first, as the timer would have, and starts the next interval.
 */
export function throttleArrive(
  intervalMs: number,
  state: ThrottleState | undefined,
  item: Item,
  t: number,
): { pass: boolean; overdue?: StoredItem; state: ThrottleState } {
  let overdue: StoredItem | undefined;
  let cur = state;
  if (cur?.held && t >= cur.until) {
    overdue = cur.held;
    cur = { until: cur.until + intervalMs };
  }
  if (cur === undefined || t >= cur.until)
    return { pass: true, ...(overdue ? { overdue } : {}), state: { until: t + intervalMs } };
  return { pass: false, ...(overdue ? { overdue } : {}), state: { until: cur.until, held: storeItem(item) } };
}

/** The timer at `now`: emits the held message once its interval has ended; it starts the next one. */
export function throttleDue(
  intervalMs: number,
  state: ThrottleState,
  now: number,
): { emit?: StoredItem; state: ThrottleState } {
  if (!state.held || now < state.until) return { state };
  return { emit: state.held, state: { until: Math.max(state.until + intervalMs, now) } };
}

export function throttleDueAt(state: ThrottleState): number | null {
  return state.held ? state.until : null;
}

// ---- window -----------------------------------------------------------------------------

export interface WindowState {
  start: number;
  end: number;
  count: number;
  min: number;
  max: number;
  sum: number;
  first: number;
  last: number;
  /** Topic and type of the newest message: the window's event carries them. */
  topic: string;
  type: string;
}

export interface WindowAggregate {
  count: number;
  min: number;
  max: number;
  avg: number;
  first: number;
  last: number;
  from: string;
  to: string;
}

/**
 * A value arrives at `t`. Windows are aligned to the clock (multiples of `ms` since the epoch).
 * A value past the open window's end closes it (its timer did not run yet). A window the timer
 * closed leaves the next one open and empty (`count` 0): a value received just before the end
 * but stored just after the timer ran, or one from before it (the clock stepped back), joins
 * that next window, so a window period is never emitted twice.
 */
export function windowArrive(
  ms: number,
  state: WindowState | undefined,
  value: number,
  item: Item,
  t: number,
): { closed?: WindowState; state: WindowState } {
  let closed: WindowState | undefined;
  let cur = state;
  if (cur && t >= cur.end) {
    if (cur.count > 0) closed = cur;
    cur = undefined;
  }
  const where = { topic: item.topic, type: item.type };
  const first = { count: 1, min: value, max: value, sum: value, first: value, last: value, ...where };
  if (!cur) {
    const start = Math.floor(t / ms) * ms;
    return { ...(closed ? { closed } : {}), state: { start, end: start + ms, ...first } };
  }
  if (cur.count === 0) return { state: { start: cur.start, end: cur.end, ...first } };
  return {
    state: {
      ...cur,
      count: cur.count + 1,
      min: Math.min(cur.min, value),
      max: Math.max(cur.max, value),
      sum: cur.sum + value,
      last: value,
      ...where,
    },
  };
}

/** The timer at `now`: an ended window with values is emitted; the next one is left open, empty. */
export function windowDue(
  ms: number,
  state: WindowState,
  now: number,
): { closed?: WindowState; state: WindowState } {
  if (now < state.end) return { state };
  const next: WindowState = {
    start: state.end,
    end: state.end + ms,
    count: 0,
    min: 0,
    max: 0,
    sum: 0,
    first: 0,
    last: 0,
    topic: state.topic,
    type: state.type,
  };
  return { ...(state.count > 0 ? { closed: state } : {}), state: next };
}

export function windowDueAt(state: WindowState): number | null {
  return state.count > 0 ? state.end : null;
}

export function windowAggregate(w: WindowState): WindowAggregate {
  return {
    count: w.count,
    min: w.min,
    max: w.max,
    avg: w.sum / w.count,
    first: w.first,
    last: w.last,
    from: new Date(w.start).toISOString(),
    to: new Date(w.end).toISOString(),
  };
}

/** The item a closed window becomes: stamped with its end, or `now` when flushed early. */
export function windowItem(w: WindowState, now: number): Item {
  return {
    data: windowAggregate(w),
    json: undefined,
    topic: w.topic,
    type: w.type,
    receivedAt: Math.min(w.end, now),
  };
}
