// What each module the agent loads adds to the RSS of a node process (with the flags of
// bin/edgehook.js's #! line), loaded one after the other in the agent's order, so a module
// shared by two is counted once, where it is first loaded.
//
//   node bench/module-costs.js [--root DIR] [--runs 3] [--alone]
//
// Each step: import, full GC, 300 ms, VmRSS and V8's used heap. Figures are medians of the
// runs. `--alone`: each module on its own on top of bare node instead of one after the other.
// See BENCHMARKS.md "Memory: where the MB go".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { argValue } from './lib/util.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => argValue(args, name, dflt);
const root = resolve(opt('root', join(import.meta.dirname, '..')));
const runs = Number(opt('runs', 3));
const alone = args.includes('--alone');
/** Each child opens its outbox in a fresh directory under this one, removed at the end. */
const tmp = mkdtempSync(join(tmpdir(), 'edgehook-costs-'));
const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const nm = (p) => pathToFileURL(join(root, 'node_modules', p)).href;

/** [label, code run in the child (top-level await allowed)] */
const STEPS = [
  ['the ESM loader (a first tiny module)', `await import(${JSON.stringify(dist('clock.js'))})`],
  ['pino (logger)', `await import(${JSON.stringify(dist('log.js'))})`],
  ['zod + the config schema', `await import(${JSON.stringify(dist('config/schema.js'))})`],
  ['yaml + config loading', `await import(${JSON.stringify(dist('config/load.js'))})`],
  [
    'better-sqlite3 + an open outbox',
    `{ const m = await import(${JSON.stringify(dist('outbox/open-db.js'))}); await import(${JSON.stringify(dist('outbox/outbox-store.js'))}); globalThis.keep = m.openDb((await import('node:fs')).mkdtempSync(${JSON.stringify(join(tmp, 'run-'))})); }`,
  ],
  ['mqtt.js (+ MqttSource)', `await import(${JSON.stringify(dist('ingest/mqtt-source.js'))})`],
  ['undici dispatchers (+ delivery)', `await import(${JSON.stringify(dist('delivery/dispatcher.js'))})`],
  ['prom-client', `await import(${JSON.stringify(nm('prom-client/index.js'))})`],
  ['fastify (+ admin server)', `await import(${JSON.stringify(dist('admin/admin-server.js'))})`],
  ['the rest of the agent', `await import(${JSON.stringify(dist('agent/create-agent.js'))})`],
  ['aedes (embedded broker only)', `await import(${JSON.stringify(dist('ingest/embedded-broker.js'))})`],
  [
    'jsonata (steps with expressions only)',
    `(await import(${JSON.stringify(dist('jsonata-sync.js'))})).compileJsonata?.('a.b')`,
  ],
  ['selfsigned (admin TLS only)', `await import(${JSON.stringify(nm('selfsigned/index.js'))})`],
  [
    'protobufjs (Sparkplug only)',
    `(await import(${JSON.stringify(dist('ingest/sparkplug/sparkplug-schema.js'))})).payloadType()`,
  ],
];

const { launcherNodeFlags } = await import(dist('cli/launcher-flags.js'));
const flags = launcherNodeFlags(join(root, 'bin/edgehook.js'));

function child(steps) {
  const code = [
    "const { readFileSync } = await import('node:fs');",
    "const { getHeapStatistics } = await import('node:v8');",
    "const rss = () => Number(/^VmRSS:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;",
    'const settle = async () => { gc(); await new Promise((r) => setTimeout(r, 300)); gc(); return { rss: rss(), heap: getHeapStatistics().used_heap_size }; };',
    'const out = [await settle()];',
    ...steps.map(([, c]) => `${c}; out.push(await settle());`),
    'console.log(JSON.stringify(out));',
    'process.exit(0);',
  ].join('\n');
  const r = spawnSync(process.execPath, [...flags, '--expose-gc', '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const MB = (b) => (b / 1024 / 1024).toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`node ${process.version}, flags ${flags.join(' ')} --expose-gc, ${runs} runs, ${root}`);
if (alone) {
  for (const step of STEPS) {
    const res = Array.from({ length: runs }, () => child([step]));
    const d = median(res.map((r) => r[1].rss - r[0].rss));
    const h = median(res.map((r) => r[1].heap - r[0].heap));
    console.log(`${step[0].padEnd(40)} +${MB(d)} MB RSS (+${MB(h)} MB V8 heap used)`);
  }
} else {
  const res = Array.from({ length: runs }, () => child(STEPS));
  console.log(`${'bare node'.padEnd(40)} ${MB(median(res.map((r) => r[0].rss)))} MB RSS`);
  STEPS.forEach(([label], i) => {
    const d = median(res.map((r) => r[i + 1].rss - r[i].rss));
    const h = median(res.map((r) => r[i + 1].heap - r[i].heap));
    const total = median(res.map((r) => r[i + 1].rss));
    console.log(`${label.padEnd(40)} +${MB(d)} MB RSS (+${MB(h)} MB heap)  = ${MB(total)} MB`);
  });
}
rmSync(tmp, { recursive: true, force: true });
