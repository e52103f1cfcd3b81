import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Builds the admin UI (renderer/ → dist/ui) for the tests without ever leaving dist/ui empty.
 * `vite build` empties its outDir first, so a second test run started on the same checkout
 * (a developer's second terminal) would make the first one's agents answer 404 for a moment.
 * Here Vite builds into a scratch folder; the hashed assets are added beside the old ones and
 * index.html is swapped in by a rename. `npm run build` still builds dist/ui from clean.
 */
export function buildUi(root: string): void {
  const ui = resolve(root, 'dist/ui');
  const scratch = resolve(root, `dist/.ui-build-${process.pid}`);
  try {
    execFileSync(
      process.execPath,
      [
        resolve(root, 'node_modules/vite/bin/vite.js'),
        'build',
        '--config',
        'renderer/vite.config.ts',
        '--outDir',
        scratch,
        '--emptyOutDir',
        '--logLevel',
        'warn',
      ],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
    mkdirSync(join(ui, 'assets'), { recursive: true });
    for (const name of readdirSync(join(scratch, 'assets')))
      replaceFile(join(scratch, 'assets', name), join(ui, 'assets', name));
    replaceFile(join(scratch, 'index.html'), join(ui, 'index.html'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function replaceFile(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}
