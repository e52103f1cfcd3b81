import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  desktopSqliteDriver,
  DRIVER_FILE as APP_DRIVER_FILE,
} from '../../src/electron/sqlite-driver-path.js';
import { isEdgehookError, ErrorCodes } from '../../src/errors.js';
import { openDb } from '../../src/outbox/open-db.js';
import { useSqliteDriver } from '../../src/outbox/sqlite-driver.js';
import { standInDriver } from '../packaging/stand-ins.js';
import { DRIVER_FILE, driverPath, OS_KEY } from '../../build/electron-target.mjs';

/**
 * The desktop's database opens through better-sqlite3's nativeBinding, from where a packaged
 * app keeps its driver (resources/native, docs/desktop.md "The SQLite driver"). This process is
 * Node, so the driver laid out there is a copy of Node's own build: what is proven is that the
 * outbox is opened with the file at the resolved path, not with node_modules' copy.
 */

const require = createRequire(import.meta.url);
const nodeDriver = path.join(
  path.dirname(require.resolve('better-sqlite3/package.json')),
  'build/Release/better_sqlite3.node',
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-sqlite-driver-'));
afterEach(() => useSqliteDriver(undefined));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A packaged app's resources folder holding `driver` where electron-builder.yml puts it. */
function packagedApp(name: string, driver: Buffer | undefined) {
  const resourcesPath = path.join(tmp, name, 'resources');
  fs.mkdirSync(path.join(resourcesPath, 'native'), { recursive: true });
  const location = desktopSqliteDriver({
    packaged: true,
    resourcesPath,
    sourceRoot: path.join(tmp, 'repo'),
    platform: 'linux',
    arch: 'x64',
  });
  if (driver) fs.writeFileSync(location.file, driver);
  return location;
}

/** The shared objects this process has mapped: which driver file was really loaded. */
const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8');

describe('the SQLite driver of a packaged desktop app', () => {
  it('opens the outbox through the driver in resources/native', () => {
    const { file, hint } = packagedApp('ok', fs.readFileSync(nodeDriver));
    expect(file).toBe(path.join(tmp, 'ok', 'resources', 'native', 'better_sqlite3.node'));
    useSqliteDriver(file, hint);
    const db = openDb(path.join(tmp, 'ok', 'data'));
    try {
      db.prepare('CREATE TABLE IF NOT EXISTS t (x)').run();
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 't'").get()).toEqual({ name: 't' });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
    // This file runs in its own process (vitest's forks pool), and nothing loaded the default
    // driver before: had openDb not passed nativeBinding, node_modules' copy would be mapped.
    expect(mapped()).toContain(file);
    expect(mapped()).not.toContain(fs.realpathSync(nodeDriver));
  });

  it('refuses a missing driver with what to do', () => {
    const { file, hint } = packagedApp('missing', undefined);
    try {
      useSqliteDriver(file, hint);
      expect.unreachable();
    } catch (err) {
      expect(isEdgehookError(err, ErrorCodes.SQLITE_DRIVER)).toBe(true);
      expect((err as Error).message).toBe(`the SQLite driver ${file} is missing`);
      expect((err as { details: string[] }).details).toEqual([hint]);
    }
  });

  it('refuses a driver for another CPU before any database opens, and keeps the previous one', () => {
    const { file, hint } = packagedApp('arm64', standInDriver('arm64', Number(process.versions.modules)));
    expect(() => useSqliteDriver(file, hint)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.SQLITE_DRIVER,
        message: expect.stringMatching(/cannot be loaded here/),
      }),
    );
    const db = openDb(path.join(tmp, 'arm64', 'data'));
    db.close();
    expect(mapped()).not.toContain(file);
  });

  it('writes the driver where `npm run desktop` looks for it, on every platform', () => {
    const root = '/repo';
    expect(APP_DRIVER_FILE).toBe(DRIVER_FILE);
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      for (const arch of ['x64', 'arm64']) {
        const dev = desktopSqliteDriver({
          packaged: false,
          resourcesPath: '/x',
          sourceRoot: root,
          platform,
          arch,
        });
        expect(dev.file).toBe(driverPath(root, OS_KEY[platform]!, arch));
      }
    }
  });
});
