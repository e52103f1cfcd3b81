#!/usr/bin/env node
// Summarises an allocation profile from bench/alloc-sampler.mjs: bytes allocated by package or
// file, and by function (sampled; each function's own allocations, not its callees').
//   node bench/analyze-allocations.js FILE [--top 30]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' } },
});
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/analyze-allocations.js FILE [--top N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const byFn = new Map();
const byFile = new Map();
let total = 0;
const stack = [profile.head];
while (stack.length > 0) {
  const node = stack.pop();
  const cf = node.callFrame;
  const file = cf.url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*?\/dist\//, 'dist/');
  const fn = `${cf.functionName || '(anonymous)'}  ${file || '(native)'}:${cf.lineNumber + 1}`;
  const pkg =
    file.startsWith('dist/') || file.startsWith('node:') || !file ? file || '(native)' : file.split('/')[0];
  byFn.set(fn, (byFn.get(fn) ?? 0) + node.selfSize);
  byFile.set(pkg, (byFile.get(pkg) ?? 0) + node.selfSize);
  total += node.selfSize;
  stack.push(...node.children);
}
const top = Number(values.top);
const print = (title, map) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${((bytes / total) * 100).toFixed(1).padStart(5)} %  ${k}\n`);
};
process.stdout.write(`${(total / 1024 / 1024).toFixed(0)} MB sampled\n`);
print('by package / file', byFile);
print('by function', byFn);
