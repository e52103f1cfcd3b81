#!/usr/bin/env node
// Diagnostic, not part of `npm run bench`: what the outbox (dist/outbox) costs per event, with
// every prepared statement timed, so a profile's "SQLite" share can be split by statement.
//   npm run build && node bench/micro-outbox.js [--events 20000] [--batch 1,10,100]
// Prints, for each group-commit size: wall and CPU µs per event for append() (ingest) and for
// record()+commitResults() of a delivered result, the fsync share, and time per statement.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../dist/outbox/open-db.js';
import { OutboxStore } from '../dist/outbox/outbox-store.js';
import { createLogger } from '../dist/log.js';
import { systemClock } from '../dist/clock.js';
import { makePayload } from './lib/util.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '20000' }, batch: { type: 'string', default: '1,10,100' } },
});
const N = Number(values.events);
const batches = values.batch.split(',').map(Number);

/** The outbox and its parts (src/outbox/outbox-store.ts), each with its own prepared statements. */
function statementsOf(store) {
  const s = /** @type {any} */ (store);
  const parts = [s, s.rows, s.room, s.results, s.writer, s.writer?.guard];
  return parts.flatMap((part) => Object.entries(part?.stmt ?? {}));
}

function instrument(store) {
  const times = new Map();
  for (const [name, st] of statementsOf(store)) {
    for (const m of ['run', 'get', 'all']) {
      const orig = st[m].bind(st);
      st[m] = (...a) => {
        const t = process.hrtime.bigint();
        try {
          return orig(...a);
        } finally {
          const e = times.get(name) ?? { n: 0, ns: 0n };
          e.n++;
          e.ns += process.hrtime.bigint() - t;
          times.set(name, e);
        }
      };
    }
  }
  return times;
}

function measure(fn) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wallUs, cpuUs: c.user + c.system };
}

function event(i) {
  const payload = makePayload(i, 'd');
  return {
    topic: 'bench/micro/data',
    type: 'bench.micro.data',
    receivedAt: Date.now(),
    payload,
    data: { kind: 'json', json: payload.toString('utf8') },
    mqtt: { messageId: (i % 65535) + 1, qos: 1, dup: false },
  };
}

const out = [];
for (const sync of ['FULL', 'NORMAL']) {
  for (const k of batches) {
    const dir = mkdtempSync(join(tmpdir(), 'edgehook-micro-'));
    try {
      const db = openDb(dir);
      db.pragma(`synchronous = ${sync}`);
      const store = new OutboxStore({
        db,
        logger: createLogger({ level: 'silent' }),
        clock: systemClock,
        agentId: 'micro',
        storage: { maxBytes: 2 * 1024 ** 3, whenFull: 'drop-oldest', keepDeliveredHours: 24 },
        endpoints: [{ id: 'r', types: ['*'] }],
      });
      const times = instrument(store);
      const events = Array.from({ length: N }, (_, i) => event(i));
      const ingest = measure(() => {
        for (let i = 0; i < N; i += k) {
          store.append(events.slice(i, i + k));
          for (let j = i; j < Math.min(N, i + k); j++) store.markAcked(events[j].mqtt.messageId);
        }
      });
      const ingestTimes = new Map([...times].map(([n, e]) => [n, { ...e }]));
      times.clear();
      let loaded = 0;
      const deliver = measure(() => {
        let after = 0;
        for (;;) {
          const rows = store.loadPending('r', after, 512);
          if (rows.length === 0) break;
          loaded += rows.length;
          after = rows[rows.length - 1].seq;
          for (let i = 0; i < rows.length; i += k) {
            for (const r of rows.slice(i, i + k)) {
              store.record({
                endpointId: 'r',
                seq: r.seq,
                at: Date.now(),
                outcome: 'delivered',
                newStatus: 'delivered',
                attempted: true,
                durationMs: 1,
                status: 200,
                response: 'ok',
              });
            }
            store.commitResults();
          }
        }
      });
      const deliverTimes = new Map(times);
      db.close();
      out.push({ sync, k, ingest, deliver, ingestTimes, deliverTimes, loaded });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const f = (us) => `${(us / N).toFixed(1).padStart(6)} µs`;
process.stdout.write(`outbox cost per event, ${N} events, one endpoint (dist/outbox/outbox-store.js)\n\n`);
process.stdout.write('synchronous  events/commit |  append wall   append cpu | deliver wall  deliver cpu\n');
for (const r of out) {
  process.stdout.write(
    `${r.sync.padEnd(12)} ${String(r.k).padStart(13)} | ${f(r.ingest.wallUs)}    ${f(r.ingest.cpuUs)} | ${f(r.deliver.wallUs)}    ${f(r.deliver.cpuUs)}\n`,
  );
}
const show = (title, m) => {
  process.stdout.write(`\n${title}\n`);
  const rows = [...m].sort((a, b) => Number(b[1].ns - a[1].ns));
  for (const [name, e] of rows) {
    process.stdout.write(
      `  ${name.padEnd(18)} ${String(e.n).padStart(7)} calls  ${(Number(e.ns) / 1000 / N).toFixed(2).padStart(6)} µs/event  ${(Number(e.ns) / e.n / 1000).toFixed(2).padStart(6)} µs/call\n`,
    );
  }
};
const ref = out.find((r) => r.sync === 'NORMAL' && r.k === Math.max(...batches)) ?? out[out.length - 1];
show(`statements during append (synchronous ${ref.sync}, ${ref.k} per commit)`, ref.ingestTimes);
show(
  `statements during record+commitResults of delivered results (synchronous ${ref.sync}, ${ref.k} per commit)`,
  ref.deliverTimes,
);
