import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STARTER_CONFIG } from '../../src/config/starter.js';
import { ROOT } from '../helpers/agent.js';
import { parseConfigText } from '../../src/config/load.js';
import { isEdgehookError } from '../../src/errors.js';

/** Steps in the config file: every mistake is reported by its path (README, "Edge processing"). */

function problems(yaml: string): string[] {
  try {
    parseConfigText(yaml, { source: 'test.yaml', env: {} });
  } catch (err) {
    if (isEdgehookError(err)) return [...err.details];
    throw err;
  }
  return [];
}

describe('steps in the config', () => {
  it('accepts every step kind, key and processing.maxKeys', () => {
    expect(
      problems(`
processing: { maxKeys: 5000 }
subscriptions:
  - topic: sensors/+/temperature
    key: "{1}"
    steps:
      - filter: "celsius > -40"
      - map: '{"celsius": celsius, "room": $levels[1]}'
      - split: readings
      - deadband: { path: celsius, by: "5%", range: [-40, 125], maxSilenceSeconds: 300 }
      - throttle: { intervalMs: 1000 }
      - window: { seconds: 60, path: celsius }
`),
    ).toEqual([]);
  });

  it('reports a JSONata syntax error, a step with two kinds and a bad deadband by path', () => {
    const found = problems(`
subscriptions:
  - topic: a/#
  - topic: b/#
    steps:
      - filter: "x > 1"
      - map: '{"a": }'
      - { filter: "x", map: "y" }
      - deadband: { by: "five", range: [10, 0] }
  - topic: c
    payload: binary
    steps: [ { throttle: { intervalMs: 10 } } ]
`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^subscriptions\[1\]\.steps\[1\]\.map: not a JSONata expression: .+/),
        expect.stringMatching(
          /^subscriptions\[1\]\.steps\[2\]: a step has exactly one of .*\(got filter, map\)/,
        ),
        expect.stringMatching(/^subscriptions\[1\]\.steps\[3\]\.deadband\.by: /),
        expect.stringMatching(/^subscriptions\[1\]\.steps\[3\]\.deadband\.range: range is \[min, max\]/),
        expect.stringMatching(/^subscriptions\[2\]\.steps: steps work on json or text data/),
      ]),
    );
  });

  it("the README's examples and the starter's commented steps are valid", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Edge processing'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    expect(problems(example)).toEqual([]);
    const uncommented = STARTER_CONFIG.replace(
      /^ {4}# (key: "|steps:| {2}- (filter|map|deadband))/gm,
      '    $1',
    );
    expect(uncommented).toContain('\n    steps:\n      - filter:');
    expect(problems(uncommented.replace(/\$\{EDGEHOOK_SECRET:-([^}]*)\}/, '$1'))).toEqual([]);
  });
});
