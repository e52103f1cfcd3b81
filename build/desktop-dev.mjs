// `npm run desktop` starts Electron on build/desktop-dev/, whose package.json this writes: the
// project's name, productName (Electron names the userData folder after it), version and
// desktopName, with `main` pointing at dist/electron/main.js. The project's own package.json has
// no `main`, because npm always packs the `main` file, and the desktop entry does not belong in
// the npm package (the headless CLI). Packages get the same entry from electron-builder.yml's
// extraMetadata.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DESKTOP_DEV_DIR = path.join(root, 'build', 'desktop-dev');
export const DESKTOP_MAIN = 'dist/electron/main.js';

export function desktopDevPackage(pkg) {
  return {
    name: pkg.name,
    productName: pkg.productName,
    version: pkg.version,
    description: pkg.description,
    desktopName: pkg.desktopName,
    type: 'module',
    main: path.posix.join('..', '..', DESKTOP_MAIN),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.mkdirSync(DESKTOP_DEV_DIR, { recursive: true });
  fs.writeFileSync(
    path.join(DESKTOP_DEV_DIR, 'package.json'),
    `${JSON.stringify(desktopDevPackage(pkg), null, 2)}\n`,
  );
}
