import type { PayloadFormat } from '../config/schema.js';
import type { PendingDelivery } from '../outbox/outbox-store.js';
import { batchBody, batchId } from './batch.js';

/**
 * The body of a request in the endpoint's format (README "Payload formats and versioning").
 *
 * The outbox stores each event once, as its edgehook/1 body; other formats are rendered from it
 * at send time. Rendering is a pure function of the stored body, so a retry, a restart or a
 * replay sends the same bytes under the same webhook-id, and the delivery log can show the body
 * as it was sent without storing it twice (rendered in the endpoint's current format, so a
 * delivery made before a format change shows in the new one).
 */

export interface RenderedBody {
  /** the webhook-id: the event id, or the batch id */
  id: string;
  body: string;
  contentType: string;
}

/** The request header that names the body's format, on every request. */
export const FORMAT_HEADER = 'webhook-format';

const CONTENT_TYPES = {
  'edgehook/1': { single: 'application/json', batch: 'application/json' },
  // CloudEvents HTTP binding, structured content mode (§3.2) and batched content mode (§3.3).
  'cloudevents/1.0': {
    single: 'application/cloudevents+json',
    batch: 'application/cloudevents-batch+json',
  },
} as const satisfies Record<PayloadFormat, { single: string; batch: string }>;

/** One request's body for one event or a batch of them (group in seq order). */
export function renderBody(
  format: PayloadFormat,
  group: readonly PendingDelivery[],
  agentJson: string,
): RenderedBody {
  const types = CONTENT_TYPES[format];
  if (group.length === 1) return renderOne(format, group[0]!.id, group[0]!.body);
  if (format === 'edgehook/1') return { ...batchBody(group, agentJson), contentType: types.batch };
  return {
    id: batchId(group),
    body: `[${group.map((d) => cloudEventOf(d.body)).join(',')}]`,
    contentType: types.batch,
  };
}

/** One event sent alone: `id` and `stored` are the event's id and its stored edgehook/1 body. */
export function renderOne(format: PayloadFormat, id: string, stored: string): RenderedBody {
  const body = format === 'edgehook/1' ? stored : cloudEventOf(stored);
  return { id, body, contentType: CONTENT_TYPES[format].single };
}

/**
 * One stored edgehook/1 event as a CloudEvents 1.0 JSON event (JSON event format §3): the
 * attributes are taken from the stored envelope, and `data` is spliced in as stored, never
 * re-encoded, so a payload's numbers and key order reach the receiver exactly as in edgehook/1.
 */
export function cloudEventOf(stored: string): string {
  const f = topLevelFields(stored);
  const field = (name: string): string => {
    const v = f.get(name);
    if (v === undefined) throw new Error(`stored event body has no "${name}"`);
    return v;
  };
  const agent = JSON.parse(field('agent')) as string;
  // `source` is a URI-reference (CloudEvents §3.1.1): an agent id with odd characters is escaped.
  const source = JSON.stringify(`edgehook://${encodeURIComponent(agent)}`);
  const data = f.get('data') ?? 'null';
  // A binary payload travels as data_base64 (JSON event format §3.1.1), not as a JSON string.
  const payload =
    f.get('encoding') === '"base64"'
      ? `"datacontenttype":"application/octet-stream","data_base64":${data}`
      : `"datacontenttype":"application/json","data":${data}`;
  return (
    `{"specversion":"1.0","id":${field('id')},"source":${source},"type":${field('type')},` +
    `"subject":${field('topic')},"time":${field('timestamp')},"seq":${field('seq')},${payload}}`
  );
}

/**
 * The raw JSON text of each top-level member of a JSON object, by name. Our own stored bodies
 * only (well-formed, written by the outbox); scanning rather than parsing keeps values exact.
 */
export function topLevelFields(json: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipSpace(json, 0);
  if (json[i] !== '{') throw new Error('stored event body is not a JSON object');
  i = skipSpace(json, i + 1);
  while (i < json.length && json[i] !== '}') {
    const keyEnd = endOfString(json, i);
    const key = JSON.parse(json.slice(i, keyEnd)) as string;
    i = skipSpace(json, keyEnd);
    if (json[i] !== ':') throw new Error(`stored event body: no ":" after "${key}"`);
    const start = skipSpace(json, i + 1);
    const end = endOfValue(json, start);
    out.set(key, json.slice(start, end));
    i = skipSpace(json, end);
    if (json[i] === ',') i = skipSpace(json, i + 1);
  }
  return out;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\r' || s[i] === '\t')) i++;
  return i;
}

/** Index just past the JSON string that starts at `i` (at its opening quote). */
function endOfString(s: string, i: number): number {
  if (s[i] !== '"') throw new Error(`stored event body: expected a string at ${i}`);
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j + 1;
  }
  throw new Error('stored event body: unterminated string');
}

/** Index just past the JSON value that starts at `i`. */
function endOfValue(s: string, i: number): number {
  if (s[i] === '"') return endOfString(s, i);
  if (s[i] === '{' || s[i] === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const c = s[j];
      if (c === '"') j = endOfString(s, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error('stored event body: unterminated object or array');
  }
  let j = i;
  while (j < s.length && !',}] \n\r\t'.includes(s[j]!)) j++;
  return j;
}
