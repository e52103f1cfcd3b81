#!/usr/bin/env node
// What Sparkplug B decoding costs per message against plain JSON of the same size, through a
// real OutboxStore on a real SQLite file, one group commit per message (the agent's worst case),
// and the resident memory the decoder adds. `npm run bench` runs it as its "sparkplug" phase;
// alone: npm run build && node --expose-gc bench/micro-sparkplug.js [--messages 20000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../dist/outbox/open-db.js';
import { OutboxStore } from '../dist/outbox/outbox-store.js';
import { chainStages } from '../dist/outbox/ingest-stage.js';
import { Router } from '../dist/ingest/route.js';
import { SparkplugStage } from '../dist/ingest/sparkplug/sparkplug-stage.js';
import { payloadType } from '../dist/ingest/sparkplug/sparkplug-schema.js';
import { createLogger } from '../dist/log.js';
import { systemClock } from '../dist/clock.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' } } });
const N = Number(values.messages);
const SUBS = [
  { topic: 'spBv1.0/#', qos: 1, payload: 'sparkplug' },
  { topic: 'json/#', qos: 1, payload: 'json' },
];

const rss = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss;
};

const before = rss();
const Payload = payloadType(); // loads protobufjs and builds the schema, as the first message does
const decoderBytes = rss() - before;

const metric = (i, n) => ({ alias: i + 1, timestamp: 1700000000000 + n, doubleValue: n * 0.5 + i });
const ddata = (n) =>
  Buffer.from(
    Payload.encode(
      Payload.fromObject({
        timestamp: 1700000000000 + n,
        seq: n % 256,
        metrics: [...Array(10).keys()].map((i) => metric(i, n)),
      }),
    ).finish(),
  );
const birth = Buffer.from(
  Payload.encode(
    Payload.fromObject({
      timestamp: 1700000000000,
      seq: 0,
      metrics: [
        { name: 'bdSeq', datatype: 4, longValue: 0 },
        ...[...Array(10).keys()].map((i) => ({ name: `m${i}`, alias: i + 1, datatype: 10, doubleValue: 0 })),
      ],
    }),
  ).finish(),
);
// JSON of about the same size as one DDATA: what a JSON device would send for the same readings.
const jsonOf = (n, size) => {
  const o = { t: 1700000000000 + n, seq: n % 256, m: [...Array(10).keys()].map((i) => n * 0.5 + i), pad: '' };
  o.pad = 'x'.repeat(Math.max(0, size - JSON.stringify(o).length));
  return Buffer.from(JSON.stringify(o));
};

function run(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'edgehook-spb-bench-'));
  const db = openDb(dir);
  const store = new OutboxStore({
    db,
    logger: createLogger({ level: 'silent' }),
    clock: systemClock,
    agentId: 'bench',
    storage: { maxBytes: 1024 ** 3, whenFull: 'drop-oldest', keepDeliveredHours: 24 },
    endpoints: [{ id: 'cloud', types: ['*'] }],
  });
  const stage = new SparkplugStage({
    db,
    logger: createLogger({ level: 'silent' }),
    subscriptions: () => SUBS,
  });
  store.setIngestStage(chainStages([stage]));
  const router = new Router(SUBS);
  const put = (topic, payload) => {
    const r = router.route(topic, payload);
    store.append([
      {
        topic,
        payload,
        receivedAt: Date.now(),
        type: r.type,
        data: r.data,
        subscription: r.subscription,
        ...(r.rejected ? { rejected: r.rejected } : {}),
      },
    ]);
  };
  if (kind === 'sparkplug') put('spBv1.0/G1/NBIRTH/E1', birth);
  const size = ddata(1).length;
  const msgs = [...Array(N).keys()].map((n) => (kind === 'sparkplug' ? ddata(n + 1) : jsonOf(n, size)));
  const topic = kind === 'sparkplug' ? 'spBv1.0/G1/NDATA/E1' : 'json/readings';
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (const m of msgs) put(topic, m);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    kind,
    messages: N,
    payloadBytes: size,
    perSec: Math.round(N / wall),
    cpuUsPerMessage: +((cpu.user + cpu.system) / N).toFixed(1),
  };
}

const json = run('json');
const spb = run('sparkplug');
console.log(
  JSON.stringify(
    { json, sparkplug: spb, decoderRssMB: +(decoderBytes / 1e6).toFixed(1), decoderRssBytes: decoderBytes },
    null,
    2,
  ),
);
