import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** Tests start the agent as a user does (bin/edgehook.js → dist/), so build it first. */
export default function setup(): void {
  const root = resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
}
