import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { payloadType } from './sparkplug-schema.js';
import { has, type LongLike, type RawMetric, toNumber } from './sparkplug-values.js';

/**
 * Topic and payload of a Sparkplug B message (spBv1.0), decoded but not yet resolved against
 * what the edge node's BIRTH said. Throws SparkplugRejection with a reason a user can act on.
 */

export const NAMESPACE = 'spBv1.0';

export const MESSAGE_TYPES = [
  'NBIRTH',
  'NDEATH',
  'DBIRTH',
  'DDEATH',
  'NDATA',
  'DDATA',
  'NCMD',
  'DCMD',
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export interface SparkplugTopic {
  messageType: MessageType;
  group: string;
  node: string;
  /** null for the edge node's own messages (N…). */
  device: string | null;
}

export interface RawPayload {
  timestamp?: LongLike;
  metrics?: RawMetric[];
  seq?: LongLike;
  uuid?: string;
  body?: Uint8Array;
}

/** Why a message is kept as rejected instead of decoded. */
export class SparkplugRejection extends Error {}

/** The payload a compressed message unpacks to may not pass this (a deflate bomb stays small on the wire). */
export const MAX_INFLATED_BYTES = 16 * 1024 * 1024;

const COMPRESSED_UUID = 'SPBV1.0_COMPRESSED';

export function parseTopic(topic: string): SparkplugTopic {
  const levels = topic.split('/');
  if (levels[0] !== NAMESPACE)
    throw new SparkplugRejection(
      `topic "${topic}" is not a Sparkplug B topic (it must start with ${NAMESPACE}/)`,
    );
  const [, group, type, node, device, ...rest] = levels;
  if (!MESSAGE_TYPES.includes(type as MessageType))
    throw new SparkplugRejection(
      `topic "${topic}" has no Sparkplug B message type (one of ${MESSAGE_TYPES.join(', ')}) at its third level`,
    );
  const messageType = type as MessageType;
  const forDevice = messageType.startsWith('D');
  if (!group || !node || rest.length > 0 || (forDevice ? !device : device !== undefined))
    throw new SparkplugRejection(
      `topic "${topic}" is not ${NAMESPACE}/GROUP/${messageType}/NODE${forDevice ? '/DEVICE' : ''}`,
    );
  return { messageType, group, node, device: forDevice ? device! : null };
}

export function decodePayload(bytes: Buffer): RawPayload {
  if (bytes.length === 0) throw new SparkplugRejection('payload is empty, not a Sparkplug B payload');
  const payload = decodeOnce(bytes);
  if (payload.uuid !== COMPRESSED_UUID) return payload;
  const inner = decodeOnce(inflate(payload));
  if (inner.uuid === COMPRESSED_UUID)
    throw new SparkplugRejection('compressed Sparkplug B payload holds another compressed payload');
  return inner;
}

function decodeOnce(bytes: Buffer): RawPayload {
  let payload: RawPayload;
  try {
    payload = payloadType().decode(bytes) as unknown as RawPayload;
  } catch (err) {
    throw new SparkplugRejection(`payload is not a Sparkplug B payload: ${(err as Error).message}`);
  }
  // Protobuf skips fields it does not know: bytes that happen to parse but carry none of the
  // payload's fields are not Sparkplug B either.
  if (!['timestamp', 'metrics', 'seq', 'uuid', 'body'].some((k) => has(payload, k)))
    throw new SparkplugRejection('payload is not a Sparkplug B payload: it has none of its fields');
  return payload;
}

/** SPBV1.0_COMPRESSED: `body` holds the real payload; an "algorithm" metric names DEFLATE (default) or GZIP. */
function inflate(p: RawPayload): Buffer {
  if (!p.body) throw new SparkplugRejection(`${COMPRESSED_UUID} payload has no body`);
  const algo = p.metrics?.find((m) => m.name === 'algorithm')?.stringValue?.toUpperCase() ?? 'DEFLATE';
  const body = Buffer.from(p.body);
  const opts = { maxOutputLength: MAX_INFLATED_BYTES };
  try {
    if (algo === 'GZIP') return gunzipSync(body, opts);
    if (algo !== 'DEFLATE')
      throw new SparkplugRejection(`${COMPRESSED_UUID} payload names an unknown algorithm "${algo}"`);
    // Java's Deflater and pako write zlib-wrapped deflate; some encoders write it raw.
    try {
      return inflateSync(body, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw err;
      return inflateRawSync(body, opts);
    }
  } catch (err) {
    if (err instanceof SparkplugRejection) throw err;
    const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new SparkplugRejection(
      tooLarge
        ? `${COMPRESSED_UUID} payload unpacks to more than ${MAX_INFLATED_BYTES} bytes`
        : `${COMPRESSED_UUID} payload does not unpack with ${algo}: ${(err as Error).message}`,
    );
  }
}

/** A payload-level 64-bit field (timestamp, seq) as a number, or null when absent. */
export function optionalNumber(p: object, key: 'timestamp' | 'seq'): number | null {
  const v = (p as Record<string, LongLike | undefined>)[key];
  return has(p, key) && v !== undefined ? toNumber(v) : null;
}
