import { isUtf8 } from 'node:buffer';
import type { SubscriptionConfig } from '../config/schema.js';
import type { EventData } from '../outbox/outbox-store.js';

/**
 * Topic filter → event type, and payload → event data (docs/architecture.md "The data path"). Pure: no I/O.
 */

export interface Routed {
  type: string;
  /** Index of the subscription (in config order) whose filter matched. */
  subscription: number;
  data: EventData;
  /** Set when the payload does not parse as its subscription declares. */
  rejected?: string;
}

interface CompiledRoute {
  levels: string[];
  template: string | undefined;
  payload: SubscriptionConfig['payload'];
}

/** The filter without a `$share/<group>/` prefix: what the broker matches topics against. */
export function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  return filter.split('/').slice(2).join('/');
}

/** Returns the levels the wildcards matched, in order, or undefined when the topic does not match. */
export function matchTopic(filterLevels: readonly string[], topic: string): string[] | undefined {
  const levels = topic.split('/');
  const captured: string[] = [];
  // MQTT 5 §4.7.2: wildcards at the first level do not match topics starting with "$".
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return undefined;
  for (let i = 0; i < filterLevels.length; i++) {
    const f = filterLevels[i];
    if (f === '#') {
      captured.push(levels.slice(i).join('.'));
      return captured;
    }
    const level = levels[i];
    if (level === undefined) return undefined;
    if (f === '+') captured.push(level);
    else if (f !== level) return undefined;
  }
  return levels.length === filterLevels.length ? captured : undefined;
}

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(subscriptions: readonly SubscriptionConfig[]) {
    this.routes = subscriptions.map((s) => ({
      levels: stripShare(s.topic).split('/'),
      template: s.type,
      payload: s.payload,
    }));
  }

  /** The first subscription whose filter matches decides; undefined when none does. */
  route(topic: string, payload: Buffer): Routed | undefined {
    for (const [subscription, r] of this.routes.entries()) {
      const captured = matchTopic(r.levels, topic);
      if (captured)
        return {
          type: renderType(r.template, topic, captured),
          subscription,
          ...parsePayload(r.payload, payload),
        };
    }
    return undefined;
  }
}

export function renderType(template: string | undefined, topic: string, captured: readonly string[]): string {
  if (template === undefined) return topic.split('/').filter(Boolean).join('.') || 'mqtt.message';
  return template.replace(/\{(\d+)\}/g, (_m, n: string) => captured[Number(n) - 1] ?? '');
}

export function parsePayload(
  kind: SubscriptionConfig['payload'],
  payload: Buffer,
): { data: EventData; rejected?: string } {
  // Sparkplug B is decoded by its ingest stage, inside the transaction that learns its aliases.
  if (kind === 'binary' || kind === 'sparkplug') return { data: { kind: 'binary' } };
  if (!isUtf8(payload))
    return {
      data: { kind: 'binary' },
      rejected: `payload is not valid UTF-8 (subscription declares ${kind})`,
    };
  const text = payload.toString('utf8');
  if (kind === 'text') return { data: { kind: 'text', text } };
  if (text.trim().length === 0)
    return { data: { kind: 'binary' }, rejected: 'payload is empty, not JSON (subscription declares json)' };
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    return {
      data: { kind: 'binary' },
      rejected: `payload is JSON nested deeper than ${MAX_JSON_DEPTH} levels, more than receivers can parse`,
    };
  }
  try {
    JSON.parse(text);
  } catch (err) {
    const reason = err instanceof RangeError ? 'nested too deeply to parse' : (err as Error).message;
    return { data: { kind: 'binary' }, rejected: `payload is not JSON: ${reason}` };
  }
  // The original text is embedded as is: it is valid JSON, and re-serialising would cost time
  // and could change numbers a device sent.
  return { data: { kind: 'json', json: text.trim() } };
}

/**
 * V8's JSON.parse takes 100,000 levels of nesting without complaint, but receivers' parsers do
 * not (serde_json stops at 128, Python's json near 1,000, and printing such a value overflows
 * the stack even in Node). Such a payload would only fail later, after every retry; it is
 * rejected here instead, with its reason (README "Guarantees" 5).
 */
export const MAX_JSON_DEPTH = 128;

/** One pass over the text counting brackets outside strings; stops as soon as it is too deep. */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
