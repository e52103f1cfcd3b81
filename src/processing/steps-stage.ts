import type { SubscriptionConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { IngestStage, StageContext } from '../outbox/ingest-stage.js';
import type { NewEvent } from '../outbox/outbox-store.js';
import { matchTopic, parsePayload, renderType, stripShare } from '../ingest/route.js';
import {
  type CompiledStep,
  type CompiledSubscription,
  compileSubscriptions,
  jsonataTruthy,
  renderKey,
  valueAt,
} from './compile-steps.js';
import {
  deadband,
  type DeadbandState,
  type Item,
  loadItem,
  throttleArrive,
  throttleDue,
  throttleDueAt,
  type ThrottleState,
  windowArrive,
  windowDue,
  windowDueAt,
  windowItem,
  type WindowState,
} from './step-kinds.js';
import type { Counts, StateRow, StepStateStore } from './step-state-store.js';

/**
 * The subscriptions' steps as an ingest stage (README, "Edge processing"). It runs inside the
 * transaction that stores the message, so a message's effect on step state commits with its
 * events and before its ack; a timer's events commit with the state change that emits them
 * (emitDue, called through OutboxStore.appendEmitted). It holds no state in memory: every
 * read goes to SQLite, and the only memory it touches after a commit is which timer to arm.
 */

/** A step that cannot apply: the message is kept as rejected, with this reason. */
class StepError extends Error {}

interface Flow {
  item: Item;
  /** Descends from the message being stored now (not released from state by it). */
  own: boolean;
}

interface Run {
  key: string;
  now: number;
  /** Some part of the message went into state (throttle, window). */
  heldOwn: boolean;
  newKeys: number;
  /** The earliest due time written, to arm the timer after the commit. */
  due: number | undefined;
  /**
   * State written by this message's steps, by scope and key: read back by its later steps,
   * written to SQLite only once every step applied (a step that cannot apply leaves no trace,
   * without the cost of a savepoint).
   */
  writes: Map<string, PendingPut>;
}

interface PendingPut {
  scope: string;
  key: string;
  state: unknown;
  dueAt: number | null;
  isNew: boolean;
}

function newRun(key: string, now: number): Run {
  return { key, now, heldOwn: false, newKeys: 0, due: undefined, writes: new Map() };
}

export interface StepsStageDeps {
  store: StepStateStore;
  subscriptions: readonly SubscriptionConfig[];
  maxKeys: number;
  logger: Logger;
}

/** What a dry run of a subscription's steps gives (the admin API's "try it"). */
export interface TryStepsResult {
  outcome: 'reported' | 'filtered' | 'held' | 'rejected';
  events: { type: string; topic: string; data: unknown }[];
  reason?: string;
}

export class StepsStage implements IngestStage {
  private readonly store: StepStateStore;
  private readonly log: Logger;
  private subs: CompiledSubscription[] = [];
  private byScope = new Map<string, { sub: CompiledSubscription; index: number }>();
  private maxKeys: number;
  private dueListener: ((at: number) => void) | undefined;
  private evictionLogged = false;

  constructor(deps: StepsStageDeps) {
    this.store = deps.store;
    this.log = deps.logger;
    this.maxKeys = deps.maxKeys;
    this.setSubscriptions(deps.subscriptions);
  }

  /** New subscriptions (a config edit): state of steps still in place is kept, by scope. */
  setSubscriptions(subs: readonly SubscriptionConfig[]): void {
    this.subs = compileSubscriptions(subs);
    this.byScope = new Map(
      this.subs.flatMap((sub) => sub.steps.map((s, index) => [s.scope, { sub, index }] as const)),
    );
  }

  setMaxKeys(maxKeys: number): void {
    this.maxKeys = maxKeys;
  }

  /** Called after a commit that wrote a due time (a held message, an open window). */
  onDue(listener: (at: number) => void): void {
    this.dueListener = listener;
  }

  process(msg: NewEvent, ctx: StageContext): readonly NewEvent[] {
    const sub = msg.subscription === undefined ? undefined : this.subs[msg.subscription];
    if (!sub) return [msg];
    if (msg.rejected !== undefined || msg.data.kind === 'binary') {
      this.store.count(sub.name, {
        messages: 1,
        rejected: msg.rejected === undefined ? 0 : 1,
        reported: msg.rejected === undefined ? 1 : 0,
        events: 1,
      });
      return [msg];
    }
    if (sub.steps.length === 0) {
      this.store.count(sub.name, { messages: 1, reported: 1, events: 1 });
      return [msg];
    }
    const item: Item =
      msg.data.kind === 'json'
        ? {
            data: JSON.parse(msg.data.json),
            json: msg.data.json,
            topic: msg.topic,
            type: msg.type,
            receivedAt: msg.receivedAt,
          }
        : {
            data: msg.data.text,
            json: undefined,
            topic: msg.topic,
            type: msg.type,
            receivedAt: msg.receivedAt,
          };
    const run = newRun(renderKey(sub, msg.topic), ctx.now);
    let flows: Flow[];
    try {
      // A step failing half-way through a split leaves no trace: its state is not written.
      flows = this.runFrom(sub, 0, [{ item, own: true }], run);
      this.writeState(run);
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      this.store.count(sub.name, { messages: 1, rejected: 1, events: 1 });
      return [{ ...msg, rejected: err.message }];
    }
    const own = flows.filter((f) => f.own).length;
    const outcome: keyof Counts = own > 0 ? 'reported' : run.heldOwn ? 'held' : 'filtered';
    this.store.count(sub.name, {
      messages: 1,
      [outcome]: 1,
      events: flows.length,
      emitted: flows.length - own,
    });
    const events = flows.map((f) => toEvent(f.item, sub.index));
    if (run.newKeys > 0) events.push(...this.evict(run, ctx));
    this.armAfterCommit(run, ctx);
    return events;
  }

  /**
   * A timer's work, inside OutboxStore.appendEmitted: releases held messages and closes windows
   * due by `now` (windows that ended while the agent was down, at start), up to `limit` keys.
   */
  emitDue(
    now: number,
    limit: number,
    ctx: Pick<StageContext, 'afterCommit'>,
  ): { events: NewEvent[]; more: boolean } {
    const rows = this.store.due(now, limit);
    const run = newRun('', now);
    const events: NewEvent[] = [];
    for (const row of rows) events.push(...this.release(row, run, false));
    if (run.newKeys > 0) events.push(...this.evict(run, { now, ...ctx }));
    this.armAfterCommit(run, ctx);
    return { events, more: rows.length === limit };
  }

  /**
   * What `sub`'s steps would make of a message now, against the live step state (state is kept
   * by topic filter and step place): run inside a transaction that is always rolled back, so
   * nothing is stored, counted or changed.
   */
  dryRun(sub: SubscriptionConfig, topic: string, payload: Buffer, now: number): TryStepsResult {
    const probe = new StepsStage({
      store: this.store,
      subscriptions: [sub],
      maxKeys: this.maxKeys,
      logger: this.log,
    });
    const parsed = parsePayload(sub.payload, payload);
    const levels = matchTopic(stripShare(sub.topic).split('/'), topic) ?? [];
    const msg: NewEvent = {
      topic,
      type: renderType(sub.type, topic, levels),
      receivedAt: now,
      payload,
      ...parsed,
      subscription: 0,
    };
    const rollback = new Error('dry run');
    let result: TryStepsResult | undefined;
    try {
      this.store.db.transaction(() => {
        const before = probe.counts()[0]!.counts;
        const events = probe.process(msg, { now, afterCommit: () => undefined });
        const after = probe.counts()[0]!.counts;
        const outcome =
          (['rejected', 'reported', 'held', 'filtered'] as const).find((o) => after[o] > before[o]) ??
          'reported';
        const rejected = events.find((e) => e.rejected !== undefined)?.rejected;
        result = {
          outcome,
          events: events
            .filter((e) => e.rejected === undefined)
            .map((e) => ({
              type: e.type,
              topic: e.topic,
              data:
                e.data.kind === 'json'
                  ? JSON.parse(e.data.json)
                  : e.data.kind === 'text'
                    ? e.data.text
                    : null,
            })),
          ...(rejected !== undefined ? { reason: rejected } : {}),
        };
        throw rollback;
      })();
    } catch (err) {
      if (err !== rollback) throw err;
    }
    return result!;
  }

  /** The next time a timer has work, from the database. */
  nextDue(): number | undefined {
    return this.store.nextDue();
  }

  /** Per subscription (config order): its counts. */
  counts(): { topic: string; steps: number; counts: Counts }[] {
    const all = this.store.counts();
    return this.subs.map((s) => ({
      topic: s.name,
      steps: s.steps.length,
      counts: all.get(s.name) ?? {
        messages: 0,
        reported: 0,
        filtered: 0,
        held: 0,
        rejected: 0,
        events: 0,
        emitted: 0,
        evicted: 0,
      },
    }));
  }

  /** What a state row has to give when its time comes (due) or its key is evicted (flush). */
  private release(row: StateRow, run: Run, flush: boolean): NewEvent[] {
    const loc = this.byScope.get(row.scope);
    if (!loc) {
      // Its step was removed or changed by a config edit: nothing will ever read it.
      this.store.delete(row.scope, row.key);
      return [];
    }
    const step = loc.sub.steps[loc.index]!;
    let item: Item | undefined;
    if (step.kind === 'throttle') {
      const st = row.state as ThrottleState;
      const r = flush ? { emit: st.held, state: undefined } : throttleDue(step.intervalMs, st, run.now);
      if (r.emit) item = loadItem(r.emit);
      if (r.state) this.store.put(row.scope, row.key, r.state, throttleDueAt(r.state), run.now, false);
    } else if (step.kind === 'window') {
      const st = row.state as WindowState;
      const r = flush
        ? { closed: st.count > 0 ? st : undefined, state: undefined }
        : windowDue(step.ms, st, run.now);
      if (r.closed) item = windowItem(r.closed, run.now);
      if (r.state) this.store.put(row.scope, row.key, r.state, windowDueAt(r.state), run.now, false);
    }
    if (!item) return [];
    const sub = loc.sub;
    const keyed = newRun(row.key, run.now);
    let events: NewEvent[];
    try {
      events = this.runFrom(sub, loc.index + 1, [{ item, own: false }], keyed).map((f) =>
        toEvent(f.item, sub.index),
      );
      this.writeState(keyed);
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      keyed.newKeys = 0;
      keyed.due = undefined;
      events = [{ ...toEvent(item, sub.index), rejected: err.message }];
    }
    run.newKeys += keyed.newKeys;
    run.due = minDue(run.due, keyed.due ?? null);
    this.store.count(sub.name, { events: events.length, emitted: events.length });
    return events;
  }

  /** Past maxKeys: the least recently used keys go, emitting what they hold (counted, logged once). */
  private evict(run: Run, ctx: StageContext): NewEvent[] {
    const events: NewEvent[] = [];
    let excess = this.store.keys() - this.maxKeys;
    let evicted = 0;
    while (excess-- > 0) {
      const row = this.store.oldest();
      if (!row) break;
      this.store.delete(row.scope, row.key);
      const loc = this.byScope.get(row.scope);
      if (loc) this.store.count(loc.sub.name, { evicted: 1 });
      events.push(...this.release(row, run, true));
      evicted++;
    }
    if (evicted > 0 && !this.evictionLogged)
      ctx.afterCommit(() => {
        if (this.evictionLogged) return;
        this.evictionLogged = true;
        this.log.warn(
          { maxKeys: this.maxKeys },
          'step state reached processing.maxKeys: least recently used keys are flushed (counted as evicted; logged once)',
        );
      });
    return events;
  }

  private armAfterCommit(run: Run, ctx: Pick<StageContext, 'afterCommit'>): void {
    const due = run.due;
    if (due !== undefined && this.dueListener) {
      const listener = this.dueListener;
      ctx.afterCommit(() => listener(due));
    }
  }

  /** Runs items through steps[from…]; throws StepError when a step cannot apply. */
  private runFrom(sub: CompiledSubscription, from: number, start: Flow[], run: Run): Flow[] {
    let flows = start;
    for (let j = from; j < sub.steps.length && flows.length > 0; j++) {
      const step = sub.steps[j]!;
      const next: Flow[] = [];
      for (const flow of flows) this.apply(step, flow, run, next);
      flows = next;
    }
    return flows;
  }

  private apply(step: CompiledStep, flow: Flow, run: Run, next: Flow[]): void {
    const { item } = flow;
    switch (step.kind) {
      case 'filter':
        if (jsonataTruthy(evaluate(step, item, run.key))) next.push(flow);
        return;
      case 'map': {
        const data = evaluate(step, item, run.key);
        if (data === undefined) throw new StepError(`${step.path}: the expression gave no value`);
        next.push({ own: flow.own, item: { ...item, data, json: undefined } });
        return;
      }
      case 'split': {
        const out = evaluate(step, item, run.key);
        // JSONata gives a single value for a one-element match and nothing for none.
        const parts = out === undefined ? [] : Array.isArray(out) ? out : [out];
        for (const data of parts) next.push({ own: flow.own, item: { ...item, data, json: undefined } });
        return;
      }
      case 'deadband': {
        const value = valueAt(item.data, step.valuePath);
        if (value === undefined)
          throw new StepError(`${step.path}: no value at ${step.valuePath?.join('.') ?? 'data'}`);
        const old = this.read<DeadbandState>(step, run);
        const r = deadband(step.config, old, value, item.receivedAt);
        this.put(step, run, r.state, null, old === undefined);
        if (r.pass) next.push(flow);
        return;
      }
      case 'throttle': {
        const old = this.read<ThrottleState>(step, run);
        const r = throttleArrive(step.intervalMs, old, item, item.receivedAt);
        this.put(step, run, r.state, throttleDueAt(r.state), old === undefined);
        if (r.overdue) next.push({ own: false, item: loadItem(r.overdue) });
        if (r.pass) next.push(flow);
        else if (flow.own) run.heldOwn = true;
        return;
      }
      case 'window': {
        const value = valueAt(item.data, step.valuePath);
        if (typeof value !== 'number' || !Number.isFinite(value))
          throw new StepError(
            `${step.path}: the value at ${step.valuePath?.join('.') ?? 'data'} is not a number (${JSON.stringify(value) ?? 'nothing'})`,
          );
        const old = this.read<WindowState>(step, run);
        const r = windowArrive(step.ms, old, value, item, item.receivedAt);
        this.put(step, run, r.state, windowDueAt(r.state), old === undefined);
        if (r.closed) next.push({ own: false, item: windowItem(r.closed, run.now) });
        if (flow.own) run.heldOwn = true;
        return;
      }
    }
  }

  /** A key's state as this message's steps left it so far, else as stored. */
  private read<T>(step: CompiledStep, run: Run): T | undefined {
    const pending = run.writes.get(`${step.scope}\u0000${run.key}`);
    return pending ? (pending.state as T) : this.store.get<T>(step.scope, run.key);
  }

  private put(step: CompiledStep, run: Run, state: unknown, dueAt: number | null, isNew: boolean): void {
    const id = `${step.scope}\u0000${run.key}`;
    const earlier = run.writes.get(id);
    run.writes.set(id, { scope: step.scope, key: run.key, state, dueAt, isNew: earlier?.isNew ?? isNew });
    if (isNew) run.newKeys++;
    run.due = minDue(run.due, dueAt);
  }

  private writeState(run: Run): void {
    for (const w of run.writes.values()) this.store.put(w.scope, w.key, w.state, w.dueAt, run.now, w.isNew);
    run.writes.clear();
  }
}

function minDue(cur: number | undefined, at: number | null): number | undefined {
  if (at === null) return cur;
  return cur === undefined ? at : Math.min(cur, at);
}

function evaluate(step: Extract<CompiledStep, { expr: unknown }>, item: Item, key: string): unknown {
  try {
    const b = step.binds;
    const bindings: Record<string, unknown> = {};
    if (b.topic) bindings.topic = item.topic;
    if (b.levels) bindings.levels = item.topic.split('/');
    if (b.received) bindings.received = new Date(item.receivedAt).toISOString();
    if (b.key) bindings.key = key;
    try {
      return step.expr.evaluate(item.data, bindings);
    } catch (err) {
      // A time budget of a few ms can be overrun by a cold start (the evaluator's first run) or
      // a GC pause: once more before rejecting, so only an expression that runs away twice does.
      if ((err as { code?: string }).code !== 'D1012') throw err;
      return step.expr.evaluate(item.data, bindings);
    }
  } catch (err) {
    const e = err as { message?: string; code?: string };
    throw new StepError(`${step.path}: ${e.message ?? e.code ?? String(err)}`);
  }
}

function toEvent(item: Item, subscription: number): NewEvent {
  const json = item.json ?? JSON.stringify(item.data) ?? 'null';
  return {
    topic: item.topic,
    type: item.type,
    receivedAt: item.receivedAt,
    payload: Buffer.from(json),
    data: { kind: 'json', json },
    subscription,
  };
}
