import { deflateSync, gzipSync } from 'node:zlib';
import { payloadType } from '../../src/ingest/sparkplug/sparkplug-schema.js';

/**
 * Sparkplug B payloads built in the tests from the agent's own schema (field numbers of the
 * Sparkplug 3.0 `sparkplug_b.proto`), as an edge node would encode them.
 */

/**
 * The DataType numbers of Sparkplug 3.0's sparkplug_b.proto, written out here rather than
 * imported from the agent's table: a wrong number there then fails the tests.
 */
export const DT = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
  File: 18,
  Template: 19,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  UInt8Array: 26,
  UInt16Array: 27,
  UInt32Array: 28,
  UInt64Array: 29,
  FloatArray: 30,
  DoubleArray: 31,
  BooleanArray: 32,
  StringArray: 33,
  DateTimeArray: 34,
} as const;

export type MetricInput = Record<string, unknown>;

export function encode(payload: {
  timestamp?: number;
  seq?: number;
  metrics?: MetricInput[];
  [k: string]: unknown;
}): Buffer {
  return Buffer.from(payloadType().encode(payloadType().fromObject(payload)).finish());
}

/** A signed 64-bit value as the unsigned decimal a uint64 field carries (two's complement). */
export function u64(v: bigint): string {
  return BigInt.asUintN(64, v).toString();
}

/** SPBV1.0_COMPRESSED: the encoded payload in `body`, the algorithm in a metric. */
export function compressed(inner: Buffer, algorithm: 'GZIP' | 'DEFLATE' | undefined): Buffer {
  const body = algorithm === 'GZIP' ? gzipSync(inner) : deflateSync(inner);
  return encode({
    uuid: 'SPBV1.0_COMPRESSED',
    body,
    metrics: algorithm ? [{ name: 'algorithm', datatype: DT.String, stringValue: algorithm }] : [],
  });
}

export function decode(bytes: Buffer): Record<string, unknown> {
  return payloadType().toObject(payloadType().decode(bytes), { longs: String }) as Record<string, unknown>;
}
