// Writes the installer icons from the same drawing code as the tray icons
// (src/electron/tray-icons.ts), so there is no image editor step and nothing to drift.
// Needs the compiled desktop code: `npm run build:electron` first (`npm run dist` does both).
//   build/icon.png             1024 px: electron-builder derives the macOS .icns and Windows .ico
//   build/icons/NxN.png        the Linux icon set (AppImage, deb)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = path.join(here, '..', 'dist', 'electron', 'tray-icons.js');
if (!fs.existsSync(compiled)) {
  console.error(`generate-icons: ${compiled} is missing; run npm run build:electron first`);
  process.exit(1);
}
const { appIconPng } = await import(new URL(`file://${compiled}`).href);

fs.writeFileSync(path.join(here, 'icon.png'), appIconPng(1024));
fs.mkdirSync(path.join(here, 'icons'), { recursive: true });
for (const size of [16, 32, 48, 64, 128, 256, 512]) {
  fs.writeFileSync(path.join(here, 'icons', `${size}x${size}.png`), appIconPng(size));
}
console.log('generate-icons: wrote build/icon.png and build/icons/');
