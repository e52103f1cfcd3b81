import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launcherNodeFlags } from '../../src/cli/launcher-flags.js';
import { ROOT } from '../helpers/agent.js';

// The agent's memory settings are node flags on bin/edgehook.js's #! line (README, "Performance").
// Every way of starting the agent must carry them, and this node must accept them: a flag that
// node dropped would make `edgehook` refuse to start.

describe('the launcher flags', () => {
  it('do what they say in this node: small young generation, one V8 worker thread', async () => {
    const flags = launcherNodeFlags();
    expect(flags).toEqual(['--max-semi-space-size=2', '--v8-pool-size=1']);
    // Churns short-lived objects until the young generation has grown as far as it may, then
    // reports its size and the process's thread count (Linux: /proc/self/task).
    const probe = `let k = [];
      for (let i = 0; i < 3e6; i++) { k.push({ i, s: 'x' + i }); if (k.length > 5e4) k = []; }
      const young = require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      console.log(JSON.stringify({ youngMB: young.space_size / 1048576, threads: require('node:fs').readdirSync('/proc/self/task').length }));`;
    const run = (args: string[]) =>
      new Promise<{ youngMB: number; threads: number }>((resolve, reject) =>
        execFile(process.execPath, [...args, '-e', probe], (err, stdout, stderr) =>
          err || stderr ? reject(err ?? new Error(stderr)) : resolve(JSON.parse(stdout)),
        ),
      );
    const plain = await run([]);
    const launched = await run(flags);
    // Two semi-spaces of 2 MB; V8's default lets them grow to 16 MB each.
    expect(launched.youngMB).toBeLessThanOrEqual(4);
    expect(plain.youngMB).toBeGreaterThan(4);
    // Node's default platform has four V8 worker threads; the launcher asks for one.
    expect(plain.threads - launched.threads).toBe(3);
  });

  it('`npm start` runs node with the same flags as the `edgehook` command', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toContain(`node ${launcherNodeFlags().join(' ')} bin/edgehook.js run`);
  });
});
