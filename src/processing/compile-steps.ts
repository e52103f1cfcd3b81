import type { StepConfig, SubscriptionConfig } from '../config/schema.js';
import { matchTopic, stripShare } from '../ingest/route.js';
import { compileJsonata, type SyncExpression } from '../jsonata-sync.js';
import type { DeadbandConfig } from './step-kinds.js';

/**
 * Subscriptions' steps compiled once at load (README, "Edge processing"): JSONata parsed with
 * its guardrails, paths split, and each step given the names its state and its errors use.
 */

/** JSONata guardrails: a runaway expression rejects its message instead of stalling ingest. */
export const EXPRESSION_TIMEOUT_MS = 10;
export const EXPRESSION_MAX_DEPTH = 500;

interface StepBase {
  /** Where the step is in the config, e.g. `subscriptions[0].steps[1].map`: rejection reasons name it. */
  path: string;
  /** Names the step's state rows: the subscription's filter, the step's place and kind. */
  scope: string;
}

export type CompiledStep = StepBase &
  (
    | { kind: 'filter' | 'map' | 'split'; expr: SyncExpression; binds: Binds }
    | { kind: 'deadband'; valuePath: string[] | undefined; config: DeadbandConfig }
    | { kind: 'throttle'; intervalMs: number }
    | { kind: 'window'; ms: number; valuePath: string[] | undefined }
  );

/** Which bindings an expression names: building $levels and $received costs, so only when used. */
export interface Binds {
  topic: boolean;
  levels: boolean;
  received: boolean;
  key: boolean;
}

function bindsOf(expr: string): Binds {
  const uses = (name: string) => new RegExp(`\\$${name}\\b`).test(expr);
  return { topic: uses('topic'), levels: uses('levels'), received: uses('received'), key: uses('key') };
}

export interface CompiledSubscription {
  index: number;
  /** The topic filter: counts and state are kept under it, so reordering keeps them. */
  name: string;
  filterLevels: string[];
  keyTemplate: string | undefined;
  steps: CompiledStep[];
}

export function compileSubscriptions(subs: readonly SubscriptionConfig[]): CompiledSubscription[] {
  return subs.map((sub, index) => ({
    index,
    name: sub.topic,
    filterLevels: stripShare(sub.topic).split('/'),
    keyTemplate: sub.key,
    steps: (sub.steps ?? []).map((step, j) =>
      compileStep(step, `subscriptions[${index}].steps[${j}]`, `${sub.topic}#${j}`),
    ),
  }));
}

function compileStep(step: StepConfig, at: string, scopeBase: string): CompiledStep {
  const guard = { timeout: EXPRESSION_TIMEOUT_MS, stack: EXPRESSION_MAX_DEPTH };
  for (const kind of ['filter', 'map', 'split'] as const) {
    const expr = step[kind];
    if (expr !== undefined)
      return {
        kind,
        path: `${at}.${kind}`,
        scope: `${scopeBase}:${kind}`,
        expr: compileJsonata(expr, guard),
        binds: bindsOf(expr),
      };
  }
  if (step.deadband) {
    const d = step.deadband;
    const by =
      d.by === undefined
        ? undefined
        : typeof d.by === 'number'
          ? { abs: d.by }
          : { percent: Number(d.by.slice(0, -1)) };
    return {
      kind: 'deadband',
      path: `${at}.deadband`,
      scope: `${scopeBase}:deadband`,
      valuePath: d.path?.split('.'),
      config: {
        ...(by ? { by } : {}),
        ...(d.range ? { range: d.range } : {}),
        ...(d.maxSilenceSeconds !== undefined ? { maxSilenceMs: d.maxSilenceSeconds * 1000 } : {}),
      },
    };
  }
  if (step.throttle)
    return {
      kind: 'throttle',
      path: `${at}.throttle`,
      scope: `${scopeBase}:throttle`,
      intervalMs: step.throttle.intervalMs,
    };
  if (step.window)
    return {
      kind: 'window',
      path: `${at}.window`,
      scope: `${scopeBase}:window`,
      ms: step.window.seconds * 1000,
      valuePath: step.window.path?.split('.'),
    };
  // The schema admits exactly one kind per step.
  throw new Error(`${at}: a step has none of filter, map, split, deadband, throttle, window`);
}

/** The key template with `{1}`, `{2}`… filled from the wildcard levels; default the topic. */
export function renderKey(sub: CompiledSubscription, topic: string): string {
  if (sub.keyTemplate === undefined) return topic;
  const captured = matchTopic(sub.filterLevels, topic) ?? [];
  return sub.keyTemplate.replace(/\{(\d+)\}/g, (_m, n: string) => captured[Number(n) - 1] ?? '');
}

/** The value at a dotted path; undefined when some level is missing. */
export function valueAt(data: unknown, path: readonly string[] | undefined): unknown {
  let v = data;
  for (const p of path ?? []) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** JSONata's own truthiness ($boolean): empty strings, arrays and objects and 0 are false. */
export function jsonataTruthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (Array.isArray(v)) return v.some(jsonataTruthy);
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (typeof v === 'function') return false;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}
