// Loaded with `node --import` (NODE_OPTIONS) into an agent process by test/agent/lazy-loading:
// appends the file of every module the process loads to $EDGEHOOK_LOADS_FILE, one a line: ES
// modules through a loader hook (it runs on Node's loader thread), CommonJS ones as they compile.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const out = process.env.EDGEHOOK_LOADS_FILE;
if (out) {
  register(new URL('./record-loads-hooks.mjs', import.meta.url), { data: { out } });
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    appendFileSync(out, `${filename}\n`);
    return compile.call(this, content, filename);
  };
}
