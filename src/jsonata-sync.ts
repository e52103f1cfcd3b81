import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInThisContext } from 'node:vm';
import type jsonataAsync from 'jsonata';

/**
 * JSONata evaluated synchronously (README, "Edge processing").
 *
 * Steps run inside the SQLite transaction that stores a message, before its ack, and
 * better-sqlite3 transactions are synchronous: nothing can be awaited inside them. JSONata 2.x
 * made every evaluation `async` (the 1.x generators became async/await), although no built-in
 * function does I/O: each `await` only waits for a value that is already there. So this module
 * loads the installed jsonata 2.2 source with its `async`/`await` keywords removed, which gives
 * the same evaluator running to completion in one call. Its guardrails (time budget, depth
 * limit) are plain checks at each node and work unchanged; note that the async original does
 * not yield to I/O while it runs either (microtasks run back to back), so neither form can be
 * interrupted inside one long built-in call.
 *
 * The transform is checked, not trusted: the version must be 2.2.x, the rewritten source must
 * hold no `async`/`await`/`Promise.all` any more, and a test compares both forms over a corpus.
 */

export interface SyncExpression {
  /** Throws a JSONata error object ({code, message, position}) on failure. */
  evaluate(input: unknown, bindings?: Record<string, unknown>): unknown;
}

export interface SyncJsonataOptions {
  /** Milliseconds; checked at each evaluated node. */
  timeout?: number;
  /** Maximum evaluation depth. */
  stack?: number;
}

type Compile = (expr: string, options?: SyncJsonataOptions) => SyncExpression;

let compileFn: Compile | undefined;

export const SUPPORTED_JSONATA = /^2\.2\./;

/** The source of jsonata.js rewritten to run synchronously; exported for its test. */
export function rewriteJsonataSource(source: string): string {
  const out = source
    // The two parallel spots (array constructor, group-by) map to async callbacks; once the
    // callbacks are synchronous, the mapped array already holds the values.
    .replace(/await\s+Promise\.all\(/g, '(')
    .replace(/\basync\s+function\b/g, 'function')
    .replace(/\basync\s+\(/g, '(')
    .replace(/\bawait\s+/g, '');
  // The "async" key of an environment frame is data, not a keyword: it is the only use left.
  const rest = out
    .replace(/async: enclosingEnvironment \? enclosingEnvironment\.async : false/g, '')
    .match(/\basync\b|\bawait\b|Promise\.all/g);
  if (rest) throw new Error(`jsonata source still holds ${rest.join(', ')} after the rewrite`);
  return out;
}

function load(): Compile {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('jsonata/package.json');
  const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }).version;
  if (!SUPPORTED_JSONATA.test(version))
    throw new Error(`edge processing needs jsonata 2.2.x for its synchronous form; found ${version}`);
  const source = rewriteJsonataSource(readFileSync(require.resolve('jsonata'), 'utf8'));
  // The file is a UMD bundle: given a CommonJS `module`, it sets module.exports.
  const wrapper = runInThisContext(`(function (module, exports, require) {${source}\n})`, {
    filename: 'jsonata-sync.js',
  }) as (m: { exports: unknown }, e: unknown, r: NodeJS.Require) => void;
  const mod: { exports: unknown } = { exports: {} };
  wrapper(mod, mod.exports, require);
  return mod.exports as Compile;
}

/** Compiles a JSONata expression (throws its syntax error); the result evaluates synchronously. */
export function compileJsonata(expr: string, options?: SyncJsonataOptions): SyncExpression {
  compileFn ??= load();
  return compileFn(expr, options);
}

/** The installed (asynchronous) jsonata, for comparisons in tests. */
export type AsyncJsonata = typeof jsonataAsync;
