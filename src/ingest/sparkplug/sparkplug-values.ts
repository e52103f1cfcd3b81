/**
 * Sparkplug B metric values → JSON (README, "Sparkplug B input"). Pure functions over the
 * messages the schema decodes. Int64 and UInt64 become decimal strings (protobuf's own JSON
 * mapping: a number would lose digits past 2^53), smaller integers are signed or not as their
 * datatype says, arrays are unpacked from their little-endian bytes.
 */

/** Datatype codes of the Sparkplug 3.0 specification, index = code. */
export const DATATYPE_NAMES: readonly string[] = [
  'Unknown',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Float',
  'Double',
  'Boolean',
  'String',
  'DateTime',
  'Text',
  'UUID',
  'DataSet',
  'Bytes',
  'File',
  'Template',
  'PropertySet',
  'PropertySetList',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Int64Array',
  'UInt8Array',
  'UInt16Array',
  'UInt32Array',
  'UInt64Array',
  'FloatArray',
  'DoubleArray',
  'BooleanArray',
  'StringArray',
  'DateTimeArray',
];

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
  PropertySet: 20,
  PropertySetList: 21,
} as const;

export function datatypeName(code: number | undefined): string | null {
  return code === undefined ? null : (DATATYPE_NAMES[code] ?? null);
}

/** A bad value inside an otherwise decodable payload: the message is rejected with this text. */
export class SparkplugValueError extends Error {}

/** protobufjs gives 64-bit fields as Long objects (or numbers when Long is absent). */
export type LongLike = { low: number; high: number } | number;

export interface RawMetric {
  name?: string;
  alias?: LongLike;
  timestamp?: LongLike;
  datatype?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  isNull?: boolean;
  properties?: RawPropertySet;
  /** Name of the value field that is set (the oneof), if any. */
  value?: string;
  intValue?: number;
  longValue?: LongLike;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
  bytesValue?: Uint8Array;
  datasetValue?: RawDataSet;
  templateValue?: RawTemplate;
}

interface RawValueHolder {
  value?: string;
  intValue?: number;
  longValue?: LongLike;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
}

export interface RawDataSet {
  columns?: string[];
  types?: number[];
  rows?: { elements?: RawValueHolder[] }[];
}

export interface RawTemplate {
  version?: string;
  metrics?: RawMetric[];
  parameters?: (RawValueHolder & { name?: string; type?: number })[];
  templateRef?: string;
  isDefinition?: boolean;
}

export interface RawPropertySet {
  keys?: string[];
  values?: (RawValueHolder & {
    type?: number;
    isNull?: boolean;
    propertysetValue?: RawPropertySet;
    propertysetsValue?: { propertyset?: RawPropertySet[] };
  })[];
}

export function has(obj: object, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Unsigned 64-bit value of a Long (or number). */
export function toBigUint(v: LongLike): bigint {
  if (typeof v === 'number') return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

/** A 64-bit field as a plain number (timestamps, seq, aliases: far below 2^53 in practice). */
export function toNumber(v: LongLike): number {
  return Number(toBigUint(v));
}

/** The shortest decimal that reads back as the same float32 (1.23, not 1.2300000190734863). */
export function float32Json(v: number): number | string {
  if (!Number.isFinite(v)) return nonFinite(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

function doubleJson(v: number): number | string {
  return Number.isFinite(v) ? v : nonFinite(v);
}

/** JSON has no NaN or Infinity: protobuf's JSON mapping writes them as strings. */
function nonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

const INT_BITS: Record<number, { bits: number; signed: boolean }> = {
  [DT.Int8]: { bits: 8, signed: true },
  [DT.Int16]: { bits: 16, signed: true },
  [DT.Int32]: { bits: 32, signed: true },
  [DT.Int64]: { bits: 64, signed: true },
  [DT.UInt8]: { bits: 8, signed: false },
  [DT.UInt16]: { bits: 16, signed: false },
  [DT.UInt32]: { bits: 32, signed: false },
  [DT.UInt64]: { bits: 64, signed: false },
};

/** The integer a value holder carries, from whichever integer field is set. */
function rawInteger(h: RawValueHolder): bigint | undefined {
  if (h.value === 'intValue' && h.intValue !== undefined) return BigInt(h.intValue >>> 0);
  if (h.value === 'longValue' && h.longValue !== undefined) return toBigUint(h.longValue);
  return undefined;
}

/**
 * A scalar value (of a metric, a DataSet cell, a template parameter or a property) as its
 * datatype says; with an unknown datatype, as the field that carries it.
 */
export function scalarJson(h: RawValueHolder, datatype: number | undefined): unknown {
  const int = INT_BITS[datatype ?? -1];
  if (int) {
    const raw = rawInteger(h);
    if (raw !== undefined) {
      const v = int.signed ? BigInt.asIntN(int.bits, raw) : BigInt.asUintN(int.bits, raw);
      return int.bits === 64 ? v.toString() : Number(v);
    }
  } else if (datatype === DT.DateTime) {
    const raw = rawInteger(h);
    if (raw !== undefined) return Number(BigInt.asIntN(64, raw));
  } else if (datatype === DT.Float) {
    if (h.value === 'floatValue') return float32Json(h.floatValue!);
    if (h.value === 'doubleValue') return doubleJson(h.doubleValue!);
  } else if (datatype === DT.Double) {
    if (h.value === 'doubleValue') return doubleJson(h.doubleValue!);
    if (h.value === 'floatValue') return float32Json(h.floatValue!);
  }
  return byField(h);
}

/** No datatype to go by: the value as the field it came in. */
function byField(h: RawValueHolder & { bytesValue?: Uint8Array }): unknown {
  switch (h.value) {
    case 'intValue':
      return h.intValue! >>> 0;
    case 'longValue':
      return toBigUint(h.longValue!).toString();
    case 'floatValue':
      return float32Json(h.floatValue!);
    case 'doubleValue':
      return doubleJson(h.doubleValue!);
    case 'booleanValue':
      return h.booleanValue;
    case 'stringValue':
      return h.stringValue;
    case 'bytesValue':
      return Buffer.from(h.bytesValue!).toString('base64');
    default:
      return null;
  }
}

/** A metric's value: `is_null` → null; arrays, DataSet, Template and bytes by their own rules. */
export function metricValue(m: RawMetric, datatype: number | undefined, where: string): unknown {
  if (m.isNull) return null;
  if (m.value === 'datasetValue') return dataSetJson(m.datasetValue!, where);
  if (m.value === 'templateValue') return templateJson(m.templateValue!, where);
  if (m.value === 'bytesValue') {
    const bytes = Buffer.from(m.bytesValue!);
    const array = ARRAYS[datatype ?? -1];
    return array ? array(bytes, where) : bytes.toString('base64');
  }
  return scalarJson(m, datatype);
}

export function dataSetJson(ds: RawDataSet, where: string): unknown {
  const columns = ds.columns ?? [];
  const types = ds.types ?? [];
  const rows = (ds.rows ?? []).map((row, r) => {
    const cells = row.elements ?? [];
    if (cells.length !== columns.length)
      throw new SparkplugValueError(
        `${where}: DataSet row ${r} has ${cells.length} values for ${columns.length} columns`,
      );
    return cells.map((cell, c) => scalarJson(cell, types[c]));
  });
  return { columns, types: types.map((t) => datatypeName(t)), rows };
}

export function templateJson(t: RawTemplate, where: string): unknown {
  const out: Record<string, unknown> = {
    templateRef: has(t, 'templateRef') ? t.templateRef : null,
    metrics: (t.metrics ?? []).map((m, i) =>
      plainMetricJson(m, `${where}, template metric ${has(m, 'name') ? m.name : i}`),
    ),
  };
  if (has(t, 'version')) out.version = t.version;
  if (t.isDefinition) out.isDefinition = true;
  if (t.parameters && t.parameters.length > 0)
    out.parameters = t.parameters.map((p) => ({
      name: p.name ?? null,
      type: datatypeName(p.type),
      value: scalarJson(p, p.type),
    }));
  return out;
}

/** A metric named in place (inside a Template): no alias lookup. */
export function plainMetricJson(m: RawMetric, where: string): Record<string, unknown> {
  const datatype = has(m, 'datatype') ? m.datatype : undefined;
  return metricJson(m, has(m, 'name') ? m.name! : null, datatype, where);
}

/** One metric as README "Sparkplug B input" shows it, with the name and datatype it resolved to. */
export function metricJson(
  m: RawMetric,
  name: string | null,
  datatype: number | undefined,
  where: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name,
    alias: has(m, 'alias') ? toNumber(m.alias!) : null,
    datatype: datatypeName(datatype),
    value: metricValue(m, datatype, where),
    timestamp: has(m, 'timestamp') ? toNumber(m.timestamp!) : null,
    historical: m.isHistorical === true,
    transient: m.isTransient === true,
  };
  if (m.properties && (m.properties.keys?.length ?? 0) > 0) out.properties = propertiesJson(m.properties);
  return out;
}

function propertiesJson(ps: RawPropertySet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const values = ps.values ?? [];
  (ps.keys ?? []).forEach((key, i) => {
    const v = values[i];
    if (!v || v.isNull) out[key] = null;
    else if (v.value === 'propertysetValue') out[key] = propertiesJson(v.propertysetValue!);
    else if (v.value === 'propertysetsValue')
      out[key] = (v.propertysetsValue!.propertyset ?? []).map(propertiesJson);
    else out[key] = scalarJson(v, v.type);
  });
  return out;
}

type ArrayDecoder = (b: Buffer, where: string) => unknown[];

function packed(size: number, name: string, read: (b: Buffer, off: number) => unknown): ArrayDecoder {
  return (b, where) => {
    if (b.length % size !== 0)
      throw new SparkplugValueError(
        `${where}: ${name} of ${b.length} bytes is not a whole number of ${size}-byte values`,
      );
    const out: unknown[] = new Array(b.length / size);
    for (let i = 0; i < out.length; i++) out[i] = read(b, i * size);
    return out;
  };
}

/** Array datatypes (22–34): little-endian packed values in `bytes_value`. */
const ARRAYS: Record<number, ArrayDecoder> = {
  22: packed(1, 'Int8Array', (b, o) => b.readInt8(o)),
  23: packed(2, 'Int16Array', (b, o) => b.readInt16LE(o)),
  24: packed(4, 'Int32Array', (b, o) => b.readInt32LE(o)),
  25: packed(8, 'Int64Array', (b, o) => b.readBigInt64LE(o).toString()),
  26: packed(1, 'UInt8Array', (b, o) => b.readUInt8(o)),
  27: packed(2, 'UInt16Array', (b, o) => b.readUInt16LE(o)),
  28: packed(4, 'UInt32Array', (b, o) => b.readUInt32LE(o)),
  29: packed(8, 'UInt64Array', (b, o) => b.readBigUInt64LE(o).toString()),
  30: packed(4, 'FloatArray', (b, o) => float32Json(b.readFloatLE(o))),
  31: packed(8, 'DoubleArray', (b, o) => doubleJson(b.readDoubleLE(o))),
  32: booleanArray,
  33: stringArray,
  34: packed(8, 'DateTimeArray', (b, o) => Number(b.readBigInt64LE(o))),
};

/** A 4-byte little-endian count, then the values one bit each, most significant bit first. */
function booleanArray(b: Buffer, where: string): boolean[] {
  if (b.length < 4) throw new SparkplugValueError(`${where}: BooleanArray of ${b.length} bytes has no count`);
  const count = b.readUInt32LE(0);
  if (b.length - 4 < Math.ceil(count / 8))
    throw new SparkplugValueError(
      `${where}: BooleanArray says ${count} values but carries ${(b.length - 4) * 8} bits`,
    );
  const out: boolean[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = ((b[4 + (i >> 3)]! >> (7 - (i & 7))) & 1) === 1;
  return out;
}

/** UTF-8 strings, each ended by a zero byte. */
function stringArray(b: Buffer, where: string): string[] {
  if (b.length === 0) return [];
  if (b[b.length - 1] !== 0)
    throw new SparkplugValueError(`${where}: StringArray does not end with a zero byte`);
  return b
    .subarray(0, b.length - 1)
    .toString('utf8')
    .split('\0');
}
