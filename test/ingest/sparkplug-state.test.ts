import { describe, expect, it } from 'vitest';
import { REBIRTH_INTERVAL_MS } from '../../src/ingest/sparkplug/sparkplug-stage.js';
import type { IngestStage } from '../../src/outbox/ingest-stage.js';
import { clock, open, crashAndReopen, useStoreFixture } from '../outbox/store-fixture.js';
import { DT, decode, encode, u64 } from './sparkplug-fixture.js';
import { NODE, nbirth, put, rig } from './sparkplug-rig.js';

/**
 * What Sparkplug B BIRTHs and DEATHs teach, kept in SQLite: aliases across a restart, seq gaps,
 * online/offline, Rebirth requests, and nothing learnt from a rolled-back message.
 */

useStoreFixture();

describe('Sparkplug B state', () => {
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
    r = rig(crashAndReopen(r));
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
