import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { buildUi } from './ui/build-ui.js';

/** Tests start the agent as a user does (bin/edgehook.js → dist/), so build it first. */
export default function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  execFileSync(
    process.execPath,
    [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: root, stdio: 'inherit' },
  );
  // The admin UI (renderer/ → dist/ui), served by the agent and driven by test/ui in Chromium.
  buildUi(root);
}
