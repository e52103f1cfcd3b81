import { describe, expect, it } from 'vitest';
import type { SubscriptionConfig } from '../../src/config/schema.js';
import { Router } from '../../src/ingest/route.js';
import { REBIRTH_INTERVAL_MS, SparkplugStage } from '../../src/ingest/sparkplug/sparkplug-stage.js';
import { silentLogger } from '../../src/log.js';
import { chainStages, type IngestStage } from '../../src/outbox/ingest-stage.js';
import { clock, open, type Opened, reopen, useStoreFixture } from '../outbox/store-fixture.js';
import { compressed, DT, decode, encode, u64 } from './sparkplug-fixture.js';

/**
 * The Sparkplug B stage on a real outbox (real SQLite file): each test covers one rule of the
 * README's "Sparkplug B input" section.
 */

useStoreFixture();

const SUBS: SubscriptionConfig[] = [
  { topic: 'spBv1.0/PASSIVE/#', qos: 1, payload: 'sparkplug' },
  {
    topic: 'spBv1.0/#',
    qos: 1,
    type: 'sparkplug.{1}',
    payload: 'sparkplug',
    sparkplug: { requestRebirth: true },
  },
  { topic: 'json/#', qos: 1, payload: 'json' },
];
const router = new Router(SUBS);

interface Rig extends Opened {
  stage: SparkplugStage;
  sent: { topic: string; payload: Buffer }[];
}

function rig(o: Opened = open(), extra?: IngestStage): Rig {
  const sent: Rig['sent'] = [];
  const stage = new SparkplugStage({
    db: o.db,
    logger: silentLogger(),
    subscriptions: () => SUBS,
    publish: (topic, payload) => {
      sent.push({ topic, payload });
      return true;
    },
  });
  o.store.setIngestStage(chainStages([stage, extra]));
  return { ...o, stage, sent };
}

interface Stored {
  state: string;
  reason: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: the tests read the decoded event JSON freely
  data: Record<string, any>;
}

function put(r: Opened, topic: string, payload: Buffer): Stored {
  const routed = router.route(topic, payload)!;
  r.store.append([
    {
      topic,
      payload,
      receivedAt: clock.now(),
      type: routed.type,
      data: routed.data,
      subscription: routed.subscription,
      ...(routed.rejected !== undefined ? { rejected: routed.rejected } : {}),
    },
  ]);
  const row = r.db
    .prepare('SELECT state, reject_reason AS reason, body FROM events ORDER BY seq DESC LIMIT 1')
    .get() as { state: string; reason: string | null; body: string };
  return { state: row.state, reason: row.reason, data: JSON.parse(row.body).data };
}

const NODE = 'spBv1.0/G1/NBIRTH/E1';
const nbirth = (bdSeq = 0, metrics: Record<string, unknown>[] = []) =>
  encode({
    timestamp: 1700000000000,
    seq: 0,
    metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: bdSeq }, ...metrics],
  });

describe('Sparkplug B stage', () => {
  it('decodes a BIRTH into the event shape and resolves later DATA by alias, across a restart', () => {
    let r = rig();
    put(r, NODE, nbirth());
    const birth = put(
      r,
      'spBv1.0/G1/DBIRTH/E1/D1',
      encode({
        timestamp: 1700000000500,
        seq: 1,
        metrics: [
          { name: 'Counter', alias: 1, datatype: DT.Int64, longValue: 5, timestamp: 1700000000500 },
          { name: 'Temp', alias: 2, datatype: DT.Float, floatValue: 21.5 },
        ],
      }),
    );
    expect(birth.data).toEqual({
      messageType: 'DBIRTH',
      group: 'G1',
      node: 'E1',
      device: 'D1',
      timestamp: 1700000000500,
      seq: 1,
      metrics: [
        {
          name: 'Counter',
          alias: 1,
          datatype: 'Int64',
          value: '5',
          timestamp: 1700000000500,
          historical: false,
          transient: false,
        },
        {
          name: 'Temp',
          alias: 2,
          datatype: 'Float',
          value: 21.5,
          timestamp: null,
          historical: false,
          transient: false,
        },
      ],
    });

    // The agent stops between DBIRTH and DDATA; a new stage on the same file knows the aliases.
    r = rig(reopen(r));
    const data = put(
      r,
      'spBv1.0/G1/DDATA/E1/D1',
      encode({
        timestamp: 1700000001000,
        seq: 2,
        metrics: [
          { alias: 1, timestamp: 1700000001000, longValue: u64(-9007199254740993n) },
          { alias: 2, floatValue: 1.23, isHistorical: true },
        ],
      }),
    );
    expect(data.state).toBe('pending');
    expect(data.data).toEqual({
      messageType: 'DDATA',
      group: 'G1',
      node: 'E1',
      device: 'D1',
      timestamp: 1700000001000,
      seq: 2,
      metrics: [
        {
          name: 'Counter',
          alias: 1,
          datatype: 'Int64',
          value: '-9007199254740993',
          timestamp: 1700000001000,
          historical: false,
          transient: false,
        },
        {
          name: 'Temp',
          alias: 2,
          datatype: 'Float',
          value: 1.23,
          timestamp: null,
          historical: true,
          transient: false,
        },
      ],
    });
    expect(r.sent).toEqual([]);
  });

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

  it('keeps a metric with an unknown alias, unresolved, and asks for a Rebirth at most once a minute', () => {
    const r = rig();
    put(r, NODE, nbirth(0, [{ name: 'A', alias: 1, datatype: DT.Int32, intValue: 1 }]));
    const data = (seq: number) =>
      encode({
        seq,
        metrics: [
          { alias: 1, intValue: 2 },
          { alias: 99, intValue: 0xffffffff },
        ],
      });
    const d = put(r, 'spBv1.0/G1/NDATA/E1', data(1)).data;
    expect(d.metrics).toEqual([
      {
        name: 'A',
        alias: 1,
        datatype: 'Int32',
        value: 2,
        timestamp: null,
        historical: false,
        transient: false,
      },
      {
        name: null,
        alias: 99,
        datatype: null,
        value: 4294967295,
        timestamp: null,
        historical: false,
        transient: false,
        unresolved: true,
      },
    ]);
    expect(r.sent.map((s) => s.topic)).toEqual(['spBv1.0/G1/NCMD/E1']);
    const cmd = decode(r.sent[0]!.payload);
    expect(cmd.metrics).toEqual([
      expect.objectContaining({ name: 'Node Control/Rebirth', datatype: DT.Boolean, booleanValue: true }),
    ]);
    clock.t += REBIRTH_INTERVAL_MS - 1;
    put(r, 'spBv1.0/G1/NDATA/E1', data(2));
    expect(r.sent).toHaveLength(1);
    clock.t += 1;
    put(r, 'spBv1.0/G1/NDATA/E1', data(3));
    expect(r.sent).toHaveLength(2);
  });

  it('asks a node never born here for a Rebirth, but only where the subscription says so', () => {
    const r = rig();
    const passive = put(
      r,
      'spBv1.0/PASSIVE/NDATA/E9',
      encode({ seq: 4, metrics: [{ alias: 1, intValue: 1 }] }),
    );
    expect(passive.data.metrics[0]).toMatchObject({ name: null, unresolved: true });
    expect(r.sent).toEqual([]);
    const d = put(
      r,
      'spBv1.0/G1/DDATA/E9/D1',
      encode({ seq: 4, metrics: [{ name: 'x', intValue: 1 }] }),
    ).data;
    expect(d.metrics[0]).toMatchObject({ name: 'x', datatype: null, value: 1 });
    expect(r.sent.map((s) => s.topic)).toEqual(['spBv1.0/G1/NCMD/E9']);
  });

  it('flags a seq that skips, and not one that wraps from 255 to 0', () => {
    const r = rig();
    put(r, NODE, nbirth());
    const ndata = (seq: number) => put(r, 'spBv1.0/G1/NDATA/E1', encode({ seq, metrics: [] })).data;
    for (let s = 1; s <= 3; s++) expect(ndata(s).seqGap).toBeUndefined();
    expect(ndata(5).seqGap).toBe(true);
    expect(ndata(6).seqGap).toBeUndefined();
    r.db.prepare('UPDATE sparkplug_nodes SET last_seq = 254').run();
    expect(ndata(255).seqGap).toBeUndefined();
    expect(ndata(0).seqGap).toBeUndefined();
    expect(ndata(1).seqGap).toBeUndefined();
  });

  it('NDEATH: a stale bdSeq changes nothing; the current one takes the node and its devices offline', () => {
    const r = rig();
    put(r, NODE, nbirth(7));
    put(r, 'spBv1.0/G1/DBIRTH/E1/D1', encode({ seq: 1, metrics: [] }));
    put(r, 'spBv1.0/G1/DBIRTH/E1/D2', encode({ seq: 2, metrics: [] }));
    const death = (bdSeq: number) =>
      put(
        r,
        'spBv1.0/G1/NDEATH/E1',
        encode({ metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: bdSeq }] }),
      ).data;
    const stale = death(6);
    expect(stale).toMatchObject({ messageType: 'NDEATH', device: null, bdSeq: 6, stale: true });
    expect(stale.offline).toBeUndefined();
    expect(r.stage.state.nodes()[0]).toMatchObject({ online: true });

    const current = death(7);
    expect(current).toMatchObject({
      bdSeq: 7,
      stale: false,
      offline: { node: 'E1', devices: ['D1', 'D2'] },
    });
    expect(r.stage.state.nodes()).toEqual([
      {
        group: 'G1',
        node: 'E1',
        online: false,
        birthAt: clock.now(),
        devices: [
          { device: 'D1', online: false, birthAt: clock.now() },
          { device: 'D2', online: false, birthAt: clock.now() },
        ],
      },
    ]);
  });

  it('DDEATH takes its device offline', () => {
    const r = rig();
    put(r, NODE, nbirth());
    put(r, 'spBv1.0/G1/DBIRTH/E1/D1', encode({ seq: 1, metrics: [] }));
    const d = put(r, 'spBv1.0/G1/DDEATH/E1/D1', encode({ seq: 2 })).data;
    expect(d).toMatchObject({
      messageType: 'DDEATH',
      device: 'D1',
      offline: { node: 'E1', devices: ['D1'] },
    });
    expect(d.seqGap).toBeUndefined();
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

  it('a rolled-back message leaves no alias learnt, no seq, no node', () => {
    const failing: IngestStage = {
      process: () => {
        throw new Error('disk trouble');
      },
    };
    const r = rig(open(), failing);
    expect(() => put(r, NODE, nbirth(0, [{ name: 'A', alias: 1, datatype: DT.Int8, intValue: 1 }]))).toThrow(
      'disk trouble',
    );
    // A DATA of a node never born would ask for a Rebirth: not for a message that is rolled back.
    expect(() =>
      put(r, 'spBv1.0/G1/NDATA/E1', encode({ seq: 1, metrics: [{ alias: 1, intValue: 1 }] })),
    ).toThrow('disk trouble');
    expect(r.db.prepare('SELECT count(*) FROM sparkplug_metrics').pluck().get()).toBe(0);
    expect(r.stage.state.nodes()).toEqual([]);
    // Without the failing stage the same DATA finds nothing learnt, and nothing was requested
    // for the rolled-back message.
    const again = rig({ db: r.db, store: r.store, dataDir: r.dataDir });
    const d = put(
      again,
      'spBv1.0/G1/NDATA/E1',
      encode({ seq: 1, metrics: [{ alias: 1, intValue: 0xff }] }),
    ).data;
    expect(d.metrics[0]).toMatchObject({ name: null, unresolved: true, value: 255 });
    expect(r.sent).toEqual([]);
  });

  it("leaves other subscriptions' payloads alone", () => {
    const r = rig();
    const d = put(r, 'json/x', Buffer.from('{"a":1}')).data;
    expect(d).toEqual({ a: 1 });
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
