import { describe, expect, it } from 'vitest';
import { useStoreFixture } from '../outbox/store-fixture.js';
import { compressed, DT, encode, u64 } from './sparkplug-fixture.js';
import { NODE, nbirth, put, rig } from './sparkplug-rig.js';

/** Sparkplug B values as JSON: each test covers one rule of the README's "Sparkplug B input". */

useStoreFixture();

describe('Sparkplug B values', () => {
  it('keeps Int64 and UInt64 exact as decimal strings', () => {
    const r = rig();
    const big = 2n ** 53n + 1n;
    const d = put(
      r,
      NODE,
      nbirth(0, [
        { name: 'pos', datatype: DT.Int64, longValue: u64(big) },
        { name: 'neg', datatype: DT.Int64, longValue: u64(-big) },
        { name: 'umax', datatype: DT.UInt64, longValue: u64(2n ** 64n - 1n) },
        { name: 'min', datatype: DT.Int64, longValue: u64(-(2n ** 63n)) },
      ]),
    ).data;
    expect(d.metrics.slice(1).map((m: { value: unknown }) => m.value)).toEqual([
      '9007199254740993',
      '-9007199254740993',
      '18446744073709551615',
      '-9223372036854775808',
    ]);
  });

  it('signs the smaller integers as their BIRTH datatype says, also when DATA omits it', () => {
    const r = rig();
    put(
      r,
      NODE,
      nbirth(0, [
        { name: 'i8', alias: 10, datatype: DT.Int8, intValue: 0 },
        { name: 'i16', alias: 11, datatype: DT.Int16, intValue: 0 },
        { name: 'i32', alias: 12, datatype: DT.Int32, intValue: 0 },
        { name: 'u8', alias: 13, datatype: DT.UInt8, intValue: 0 },
        { name: 'u32', alias: 14, datatype: DT.UInt32, intValue: 0 },
        { name: 'named', datatype: DT.Int16, intValue: 0 },
      ]),
    );
    const d = put(
      r,
      'spBv1.0/G1/NDATA/E1',
      encode({
        seq: 1,
        metrics: [
          { alias: 10, intValue: 0xffffffff },
          { alias: 11, intValue: 0xffff8000 },
          { alias: 12, intValue: 0x80000000 },
          { alias: 13, intValue: 0xff },
          { alias: 14, intValue: 0xffffffff },
          { name: 'named', intValue: 0xfffffffe },
        ],
      }),
    ).data;
    expect(d.metrics.map((m: { datatype: string; value: number }) => [m.datatype, m.value])).toEqual([
      ['Int8', -1],
      ['Int16', -32768],
      ['Int32', -2147483648],
      ['UInt8', 255],
      ['UInt32', 4294967295],
      ['Int16', -2],
    ]);
  });

  it('gives is_null as null, and DateTime, Bytes, File, Boolean, String and properties as JSON', () => {
    const r = rig();
    const d = put(
      r,
      NODE,
      nbirth(0, [
        { name: 'nothing', datatype: DT.Int32, isNull: true },
        { name: 'when', datatype: DT.DateTime, longValue: 1700000000123 },
        { name: 'blob', datatype: DT.Bytes, bytesValue: Buffer.from([0, 1, 254, 255]) },
        { name: 'file', datatype: DT.File, bytesValue: Buffer.from('hello') },
        { name: 'on', datatype: DT.Boolean, booleanValue: true },
        { name: 's', datatype: DT.String, stringValue: 'ünï' },
        { name: 'd', datatype: DT.Double, doubleValue: 0.1 },
        {
          name: 'p',
          datatype: DT.Float,
          floatValue: 2.5,
          properties: {
            keys: ['engUnit', 'max'],
            values: [
              { type: DT.String, stringValue: '°C' },
              { type: DT.Int32, intValue: 0xfffffff6 },
            ],
          },
        },
      ]),
    ).data;
    const byName = Object.fromEntries(d.metrics.map((m: { name: string }) => [m.name, m]));
    expect(byName.nothing.value).toBeNull();
    expect(byName.when).toMatchObject({ datatype: 'DateTime', value: 1700000000123 });
    expect(byName.blob.value).toBe('AAH+/w==');
    expect(byName.file).toMatchObject({ datatype: 'File', value: Buffer.from('hello').toString('base64') });
    expect(byName.on.value).toBe(true);
    expect(byName.s.value).toBe('ünï');
    expect(byName.d.value).toBe(0.1);
    expect(byName.p).toMatchObject({ value: 2.5, properties: { engUnit: '°C', max: -10 } });
  });

  it('unpacks array datatypes from their little-endian bytes', () => {
    const r = rig();
    const le = <T>(n: number, write: (b: Buffer, v: T, o: number) => unknown, vals: T[]) => {
      const b = Buffer.alloc(n * vals.length);
      for (const [i, v] of vals.entries()) write(b, v, i * n);
      return b;
    };
    const d = put(
      r,
      NODE,
      nbirth(0, [
        { name: 'i8', datatype: DT.Int8Array, bytesValue: Buffer.from([0xef, 0x7b]) },
        {
          name: 'i16',
          datatype: DT.Int16Array,
          bytesValue: le(2, (b, v, o) => b.writeInt16LE(v, o), [-2, 300]),
        },
        {
          name: 'i32',
          datatype: DT.Int32Array,
          bytesValue: Buffer.from([0x15, 0xcd, 0x5b, 0x07, 0xb1, 0x68, 0xde, 0x3a]),
        },
        {
          name: 'i64',
          datatype: DT.Int64Array,
          bytesValue: le(8, (b, v, o) => b.writeBigInt64LE(v, o), [-(2n ** 53n) - 1n, 7n]),
        },
        {
          name: 'u64',
          datatype: DT.UInt64Array,
          bytesValue: le(8, (b, v, o) => b.writeBigUInt64LE(v, o), [2n ** 64n - 1n]),
        },
        {
          name: 'u16',
          datatype: DT.UInt16Array,
          bytesValue: le(2, (b, v, o) => b.writeUInt16LE(v, o), [65535]),
        },
        {
          name: 'f',
          datatype: DT.FloatArray,
          bytesValue: le(4, (b, v, o) => b.writeFloatLE(v, o), [1.23, 89.341]),
        },
        {
          name: 'db',
          datatype: DT.DoubleArray,
          bytesValue: le(8, (b, v, o) => b.writeDoubleLE(v, o), [12.354213]),
        },
        // The specification's own example: 12 values, most significant bit first.
        { name: 'b', datatype: DT.BooleanArray, bytesValue: Buffer.from([0x0c, 0, 0, 0, 0x34, 0xd0]) },
        { name: 'str', datatype: DT.StringArray, bytesValue: Buffer.from('ABC\0hello\0') },
        {
          name: 'dt',
          datatype: DT.DateTimeArray,
          bytesValue: le(8, (b, v, o) => b.writeBigInt64LE(v, o), [1256102875335n]),
        },
      ]),
    ).data;
    const v = Object.fromEntries(d.metrics.map((m: { name: string; value: unknown }) => [m.name, m.value]));
    expect(v).toEqual({
      bdSeq: '0',
      i8: [-17, 123],
      i16: [-2, 300],
      i32: [123456789, 987654321],
      i64: ['-9007199254740993', '7'],
      u64: ['18446744073709551615'],
      u16: [65535],
      f: [1.23, 89.341],
      db: [12.354213],
      b: [false, false, true, true, false, true, false, false, true, true, false, true],
      str: ['ABC', 'hello'],
      dt: [1256102875335],
    });
  });

  it('round-trips a DataSet and a Template', () => {
    const r = rig();
    const d = put(
      r,
      NODE,
      nbirth(0, [
        {
          name: 'table',
          datatype: DT.DataSet,
          datasetValue: {
            numOfColumns: 4,
            columns: ['small', 'big', 'when', 'label'],
            types: [DT.Int8, DT.UInt64, DT.DateTime, DT.String],
            rows: [
              {
                elements: [
                  { intValue: 0xffffffff },
                  { longValue: u64(2n ** 64n - 1n) },
                  { longValue: 1700000000000 },
                  { stringValue: 'a' },
                ],
              },
              { elements: [{ intValue: 5 }, { longValue: 1 }, { longValue: 0 }, { stringValue: 'b' }] },
            ],
          },
        },
        {
          name: 'motor',
          datatype: DT.Template,
          templateValue: {
            templateRef: 'Motor',
            version: '1.0',
            metrics: [
              { name: 'rpm', datatype: DT.Int16, intValue: 0xffff },
              { name: 'running', datatype: DT.Boolean, booleanValue: true },
            ],
            parameters: [{ name: 'rated', type: DT.Int32, intValue: 1500 }],
          },
        },
      ]),
    ).data;
    expect(d.metrics[1].value).toEqual({
      columns: ['small', 'big', 'when', 'label'],
      types: ['Int8', 'UInt64', 'DateTime', 'String'],
      rows: [
        [-1, '18446744073709551615', 1700000000000, 'a'],
        [5, '1', 0, 'b'],
      ],
    });
    expect(d.metrics[2]).toMatchObject({ name: 'motor', datatype: 'Template' });
    expect(d.metrics[2].value).toEqual({
      templateRef: 'Motor',
      version: '1.0',
      parameters: [{ name: 'rated', type: 'Int32', value: 1500 }],
      metrics: [
        {
          name: 'rpm',
          alias: null,
          datatype: 'Int16',
          value: -1,
          timestamp: null,
          historical: false,
          transient: false,
        },
        {
          name: 'running',
          alias: null,
          datatype: 'Boolean',
          value: true,
          timestamp: null,
          historical: false,
          transient: false,
        },
      ],
    });
  });

  it('unpacks SPBV1.0_COMPRESSED payloads: GZIP, DEFLATE, and DEFLATE by default', () => {
    const r = rig();
    put(r, NODE, nbirth(0, [{ name: 'Counter', alias: 1, datatype: DT.Int64, longValue: 0 }]));
    const inner = (seq: number) =>
      encode({ seq, timestamp: 5, metrics: [{ alias: 1, longValue: u64(-42n) }] });
    for (const [seq, algo] of [
      [1, 'GZIP'],
      [2, 'DEFLATE'],
      [3, undefined],
    ] as const) {
      const d = put(r, 'spBv1.0/G1/NDATA/E1', compressed(inner(seq), algo)).data;
      expect(d).toMatchObject({ seq, timestamp: 5, metrics: [{ name: 'Counter', value: '-42' }] });
      expect(d.seqGap).toBeUndefined();
    }
  });

  it('keeps what is not Sparkplug B as rejected, with the reason', () => {
    const r = rig();
    const cases: [string, Buffer, RegExp][] = [
      [
        'spBv1.0/G1/NDATA/E1',
        Buffer.from('not sparkplug at all'),
        /not a Sparkplug B payload: invalid wire type/,
      ],
      ['spBv1.0/G1/NDATA/E1', Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]), /not a Sparkplug B payload/],
      ['spBv1.0/G1/NDATA/E1', Buffer.alloc(0), /payload is empty/],
      ['spBv1.0/G1/FOO/E1', encode({ seq: 1 }), /no Sparkplug B message type/],
      ['spBv1.0/G1/DDATA/E1', encode({ seq: 1 }), /is not spBv1.0\/GROUP\/DDATA\/NODE\/DEVICE/],
      [
        'spBv1.0/G1/NDATA/E1',
        encode({
          seq: 1,
          metrics: [{ name: 'a', datatype: DT.Int32Array, bytesValue: Buffer.from([1, 2, 3]) }],
        }),
        /metric a: Int32Array of 3 bytes is not a whole number of 4-byte values/,
      ],
      [
        'spBv1.0/G1/NDATA/E1',
        encode({ uuid: 'SPBV1.0_COMPRESSED', body: Buffer.from('zzz') }),
        /does not unpack/,
      ],
    ];
    // Nested deeper than the decoder goes: an error of the message, never a retried commit.
    let nested: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 20_000; i++) nested = field(2, field(9, nested)); // PropertySet → PropertyValue → …
    cases.push(['spBv1.0/G1/NDATA/E1', field(2, field(9, nested)), /max depth exceeded/]);
    for (const [topic, bytes, reason] of cases) {
      const got = put(r, topic, bytes);
      expect(got.state, topic).toBe('rejected');
      expect(got.reason).toMatch(reason);
      expect(got.data).toBe(bytes.toString('base64'));
    }
    expect(r.stage.state.nodes()).toEqual([]);
  });
});

/** A length-delimited protobuf field, written by hand (for payloads no encoder would make). */
function field(id: number, inner: Buffer): Buffer {
  const len: number[] = [];
  let n = inner.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([(id << 3) | 2, ...len]), inner]);
}
