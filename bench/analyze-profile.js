#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile DIR`):
// self time by function and by file/package, and inclusive time of the project's own functions.
//   node bench/analyze-profile.js FILE.cpuprofile [--top 30] [--from S] [--to S] [--timeline]
// --from/--to keep the samples between S seconds after the profile's start (e.g. only the
// drain after a burst); --timeline prints, per second, the share of idle, garbage collection,
// and the outbox's ingest (insertRow) and result (applyResult) work, to find those phases.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    from: { type: 'string' },
    to: { type: 'string' },
    timeline: { type: 'boolean', default: false },
  },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node bench/analyze-profile.js FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
const top = Number(values.top);

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node from the sample stream, within --from/--to (seconds from the start).
  const self = new Map();
  const dt = prof.timeDeltas;
  const from = values.from === undefined ? -Infinity : Number(values.from) * 1e6;
  const to = values.to === undefined ? Infinity : Number(values.to) * 1e6;
  const seconds = new Map();
  let at = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    at += dt[i] ?? 0;
    if (at < from || at > to) continue;
    const id = prof.samples[i];
    const t = dt[i + 1] ?? dt[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + t);
    if (values.timeline) {
      const s = Math.floor(at / 1e6);
      const row = seconds.get(s) ?? { all: 0, idle: 0, gc: 0, insertRow: 0, applyResult: 0 };
      const name = nodes.get(id).callFrame.functionName;
      row.all += t;
      if (name === '(idle)') row.idle += t;
      else if (name === '(garbage collector)') row.gc += t;
      else if (name in row) row[name] += t;
      seconds.set(s, row);
    }
  }
  if (values.timeline) {
    process.stdout.write(
      `\n=== ${file}: per second, share of the samples\n  s   idle    gc  insertRow  applyResult\n`,
    );
    const share = (x, all) => `${((x / all) * 100).toFixed(0).padStart(4)} %`;
    for (const [s, r] of [...seconds].sort((a, b) => a[0] - b[0]))
      process.stdout.write(
        `${String(s).padStart(3)} ${share(r.idle, r.all)} ${share(r.gc, r.all)} ${share(r.insertRow, r.all)}    ${share(r.applyResult, r.all)}\n`,
      );
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const where = (n) => {
    const cf = n.callFrame;
    const url = cf.url.replace(/^file:\/\//, '');
    const short = url.includes('node_modules/')
      ? url.slice(url.lastIndexOf('node_modules/') + 13)
      : url.replace(/^.*?\/(dist|bench|src)\//, '$1/');
    return { name: cf.functionName || '(anonymous)', file: short || '(native)', line: cf.lineNumber + 1 };
  };
  const pkg = (file) => {
    if (file.startsWith('dist/')) return file;
    if (file.startsWith('node:') || file === '(native)') return file;
    const parts = file.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  };
  const byFn = new Map();
  const byPkg = new Map();
  const inclusive = new Map();
  for (const [id, t] of self) {
    const n = nodes.get(id);
    const w = where(n);
    const key = `${w.name}  ${w.file}:${w.line}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
    const p = ['(idle)', '(program)', '(garbage collector)'].includes(w.name) ? w.name : pkg(w.file);
    byPkg.set(p, (byPkg.get(p) ?? 0) + t);
    // Inclusive time of the project's functions (dist/…): each distinct frame on the stack once.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cw = where(nodes.get(cur));
      if (!cw.file.startsWith('dist/')) continue;
      const k = `${cw.name}  ${cw.file}:${cw.line}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  const pct = (t) => `${((t / total) * 100).toFixed(1).padStart(5)} %`;
  const ms = (t) => `${(t / 1000).toFixed(0).padStart(7)} ms`;
  const print = (title, map) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
      process.stdout.write(`${pct(t)} ${ms(t)}  ${k}\n`);
  };
  process.stdout.write(`\n=== ${file}: ${(total / 1e6).toFixed(1)} s sampled\n`);
  print('self time by package / file', byPkg);
  print('self time by function', byFn);
  print('inclusive time of edgehook functions (dist/)', inclusive);
}
