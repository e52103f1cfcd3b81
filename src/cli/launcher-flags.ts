import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The node flags of the `edgehook` command live in one place: the `#!/usr/bin/env -S node …`
 * line of bin/edgehook.js, which is what runs when a user types `edgehook`. Whatever starts
 * the agent as `node bin/edgehook.js` instead (the systemd unit, the benchmark) reads them
 * from there, so every way of starting it runs with the same heap settings.
 */
export const LAUNCHER = fileURLToPath(new URL('../../bin/edgehook.js', import.meta.url));

export function launcherNodeFlags(file = LAUNCHER): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}
