import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileJsonata, rewriteJsonataSource } from '../../src/jsonata-sync.js';

/** Expressions covering paths, arrays, group-by, functions, lambdas, regexes and errors. */
const CORPUS: [string, unknown, Record<string, unknown>?][] = [
  ['celsius > -40 and celsius < 125', { celsius: 21.5 }],
  ['{"celsius": celsius, "room": $levels[1]}', { celsius: 3 }, { levels: ['sensors', 'kitchen'] }],
  ['readings', { readings: [1, 2, 3] }],
  ['readings.v', { readings: [{ v: 1 }, { v: 2 }] }],
  ['readings[v > 1].v', { readings: [{ v: 1 }, { v: 2 }, { v: 3 }] }],
  ['[1, 2, [3, 4], a]', { a: 'x' }],
  ['[1..5].($ * 2)', {}],
  [
    'items{type: $sum(price)}',
    {
      items: [
        { type: 'a', price: 1 },
        { type: 'b', price: 2 },
        { type: 'a', price: 3 },
      ],
    },
  ],
  ['$map(xs, function($x, $i) { $x * $i })', { xs: [3, 4, 5] }],
  ['$filter(xs, function($x) { $x % 2 = 0 })', { xs: [1, 2, 3, 4] }],
  ['$reduce(xs, function($a, $b) { $a + $b })', { xs: [1, 2, 3, 4] }],
  ['$sort(xs, function($a, $b) { $a > $b })', { xs: [3, 1, 2] }],
  ['$string(a) & "-" & $uppercase(b)', { a: 1, b: 'x' }],
  ['$replace(s, /(\\d+)/, function($m) { $string($number($m.match) + 1) })', { s: 'v41' }],
  ['$match(s, /a(b+)/)', { s: 'xabbbz' }],
  ['$split(s, ",") ~> $map($number)', { s: '1,2,3' }],
  ['($f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(10))', {}],
  ['a ? "yes" : "no"', { a: false }],
  ['$exists(missing)', {}],
  ['$keys($)', { a: 1, b: 2 }],
  ['$merge([{"a": 1}, {"b": 2}])', {}],
  ['$ ~> |$|{"added": true}|', { a: 1 }],
  ['$topic & "/" & $key', {}, { topic: 't/1', key: 'k' }],
  ['$toMillis($received)', {}, { received: '2026-12-03T05:00:00.000Z' }],
  ['$sum(a) + "x"', { a: [1] }],
  ['$undefinedFunction(1)', {}],
  ['a.b.c', {}],
];

async function settle(p: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: JSON.parse(JSON.stringify(await p()) ?? 'null') };
  } catch (err) {
    return { err: (err as { code?: string }).code };
  }
}

function settleSync(f: () => unknown): unknown {
  try {
    return { ok: JSON.parse(JSON.stringify(f()) ?? 'null') };
  } catch (err) {
    return { err: (err as { code?: string }).code };
  }
}

describe('synchronous JSONata', () => {
  it.each(CORPUS)('%s gives what jsonata 2.2 gives', async (expr, input, bindings) => {
    const expected = await settle(() => jsonata(expr).evaluate(structuredClone(input), bindings));
    const actual = settleSync(() => compileJsonata(expr).evaluate(structuredClone(input), bindings));
    expect(actual).toEqual(expected);
  });

  it('returns at once, not a promise', () => {
    const out = compileJsonata('a + 1').evaluate({ a: 1 });
    expect(out).toBe(2);
  });

  it('keeps the depth guardrail: runaway recursion fails with D1011', () => {
    const e = compileJsonata('($f := function($n) { $n <= 0 ? 0 : 1 + $f($n - 1) }; $f(100000))', {
      timeout: 50,
      stack: 200,
    });
    expect(() => e.evaluate({})).toThrow(expect.objectContaining({ code: 'D1011' }));
  });

  it('keeps the time budget: a long loop fails with D1012 soon after the budget', () => {
    const e = compileJsonata('[1..10000000].($ * 2) ~> $sum', { timeout: 5, stack: 500 });
    const t0 = performance.now();
    expect(() => e.evaluate({})).toThrow(expect.objectContaining({ code: 'D1012' }));
    // The 10-million range is built in one call before the first check; mapping it would take seconds.
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('objects it builds have a null prototype', () => {
    expect(Object.getPrototypeOf(compileJsonata('{"a": 1}').evaluate({}))).toBeNull();
  });

  it('the rewrite leaves no async, await or Promise.all, and refuses a source it cannot handle', () => {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve('jsonata'), 'utf8');
    expect(rewriteJsonataSource(src)).not.toMatch(/\bawait\b/);
    expect(() => rewriteJsonataSource(`${src}\nconst x = Promise.allSettled; async\n`)).toThrow(/async/);
  });
});
