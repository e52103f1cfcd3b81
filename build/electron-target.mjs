// Which Electron the desktop app is built for, and where its SQLite driver lives: one place for
// build/electron-driver.mjs (which builds the driver), build/after-pack.mjs (which checks what a
// package ships) and src/electron/sqlite-driver-path.ts (which loads it; the layout is repeated
// there, and test/packaging checks that both agree).
import fs from 'node:fs';
import path from 'node:path';

/** electron-builder's `${os}` for a Node platform name: the folder names under native/electron. */
export const OS_KEY = { linux: 'linux', darwin: 'mac', win32: 'win' };

export const DRIVER_FILE = 'better_sqlite3.node';

/** native/electron/<os>-<arch>/better_sqlite3.node: outside node_modules, which stays Node's. */
export function driverPath(root, os, arch) {
  return path.join(root, 'native', 'electron', `${os}-${arch}`, DRIVER_FILE);
}

/**
 * The installed Electron's version and ABI (its package ships `abi_version`). A build for
 * another Electron version (electron-builder's `electronVersion`) must say its ABI in
 * EDGEHOOK_ELECTRON_ABI: guessing it would defeat the check.
 */
export function electronTarget(root, version) {
  const dir = path.join(root, 'node_modules', 'electron');
  const installed = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  const fromEnv = process.env.EDGEHOOK_ELECTRON_ABI;
  if (fromEnv) return { version: version ?? installed, abi: Number(fromEnv) };
  if (version && version !== installed)
    throw new Error(
      `building for Electron ${version}, but node_modules has Electron ${installed}: set EDGEHOOK_ELECTRON_ABI to Electron ${version}'s ABI`,
    );
  const abi = Number(fs.readFileSync(path.join(dir, 'abi_version'), 'utf8').trim());
  if (!Number.isInteger(abi)) throw new Error(`cannot read Electron's ABI from ${dir}/abi_version`);
  return { version: installed, abi };
}
