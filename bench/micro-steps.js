#!/usr/bin/env node
// Diagnostic, not part of `npm run bench`: the CPU cost per message of each kind of step
// (README, "Edge processing"), through the real outbox (dist/), in group commits of 100 with
// synchronous=NORMAL so the disk does not hide the CPU.
//   npm run build && node bench/micro-steps.js [--events 20000] [--keys 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../dist/outbox/open-db.js';
import { OutboxStore } from '../dist/outbox/outbox-store.js';
import { createLogger } from '../dist/log.js';
import { systemClock } from '../dist/clock.js';
import { subscriptionSchema } from '../dist/config/schema.js';
import { StepStateStore } from '../dist/processing/step-state-store.js';
import { StepsStage } from '../dist/processing/steps-stage.js';
import { makePayload } from './lib/util.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '20000' }, keys: { type: 'string', default: '1000' } },
});
const N = Number(values.events);
const KEYS = Number(values.keys);
const BATCH = 100;

const SCENARIOS = [
  ['no stage (before edge processing)', undefined],
  ['stage, no steps (counting only)', []],
  ['filter', [{ filter: 'temp > -40 and temp < 125' }]],
  ['map', [{ map: '{"temp": temp, "dev": $levels[2], "bat": bat}' }]],
  ['split (3 elements)', [{ split: '[temp, hum, bat]' }]],
  ['deadband', [{ deadband: { path: 'temp', by: 0.5 } }]],
  ['throttle', [{ throttle: { intervalMs: 1000 } }]],
  ['window', [{ window: { seconds: 60, path: 'temp' } }]],
  [
    'filter + map + deadband',
    [
      { filter: 'temp > -40' },
      { map: '{"temp": temp, "dev": $levels[2]}' },
      { deadband: { path: 'temp', by: 0.5 } },
    ],
  ],
];

function event(i) {
  // Values that move, so a deadband passes some and filters others.
  const payload = Buffer.from(
    makePayload(i, 'd')
      .toString()
      .replace('"temp":21.53', `"temp":${20 + (i % 7) * 0.3}`),
  );
  return {
    topic: `bench/steps/k${i % KEYS}`,
    type: 'bench.steps',
    receivedAt: Date.now(),
    payload,
    data: { kind: 'json', json: payload.toString('utf8') },
    subscription: 0,
    mqtt: { messageId: (i % 65535) + 1, qos: 1, dup: false },
  };
}

const rows = [];
for (const [name, steps] of SCENARIOS) {
  const dir = mkdtempSync(join(tmpdir(), 'edgehook-micro-steps-'));
  try {
    const db = openDb(dir);
    db.pragma('synchronous = NORMAL');
    const logger = createLogger({ level: 'silent' });
    const store = new OutboxStore({
      db,
      logger,
      clock: systemClock,
      agentId: 'micro',
      storage: { maxBytes: 2 * 1024 ** 3, whenFull: 'drop-oldest', keepDeliveredHours: 24 },
      endpoints: [{ id: 'r', types: ['*'] }],
    });
    if (steps) {
      const sub = subscriptionSchema.parse({ topic: 'bench/steps/+', steps });
      store.setIngestStage(
        new StepsStage({
          store: new StepStateStore(db, store.ledger),
          subscriptions: [sub],
          maxKeys: 100_000,
          logger,
        }),
      );
    }
    const events = Array.from({ length: N }, (_, i) => event(i));
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let stored = 0;
    for (let i = 0; i < N; i += BATCH) {
      stored += store.append(events.slice(i, i + BATCH)).stored;
      for (let j = i; j < Math.min(N, i + BATCH); j++) store.markAcked(events[j].mqtt.messageId);
    }
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const c = process.cpuUsage(c0);
    rows.push({ name, cpu: (c.user + c.system) / N, wall: wallUs / N, stored });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const base = rows[0].cpu;
console.log(
  `| scenario (${N} messages, ${KEYS} keys, commits of ${BATCH}) | CPU µs/message | wall µs/message | added CPU µs | events stored |`,
);
console.log('|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.cpu.toFixed(1)} | ${r.wall.toFixed(1)} | ${(r.cpu - base).toFixed(1)} | ${r.stored} |`,
  );
