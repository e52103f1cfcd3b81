import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildEnv, driverProblems } from '../../build/electron-driver.mjs';
import { standInDriver } from './stand-ins.js';

/**
 * build/electron-driver.mjs, the parts that decide what it keeps (the downloads and compiles
 * it runs need the internet; docs/desktop.md, "The SQLite driver").
 */

const require = createRequire(import.meta.url);
const nodeDriver = path.join(
  path.dirname(require.resolve('better-sqlite3/package.json')),
  'build/Release/better_sqlite3.node',
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-electron-driver-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('electron-driver', () => {
  it("hides npm's nodedir and target settings from node-gyp, so it cannot build against Node's headers", () => {
    const env = buildEnv({
      PATH: '/usr/bin',
      npm_config_nodedir: '/usr',
      NPM_CONFIG_NODEDIR: '/usr',
      npm_config_target: '20.20.2',
      npm_config_runtime: 'node',
      npm_config_arch: 'x64',
      npm_config_disturl: 'https://example.invalid/dist',
      npm_config_cache: '/root/.npm',
    });
    expect(env).toEqual({ PATH: '/usr/bin', npm_config_cache: '/root/.npm' });
  });

  it("refuses what a rebuild against Node's headers produces, and accepts a driver for Electron's ABI", () => {
    const electron = { arch: os.arch(), abi: 150 };
    expect(driverProblems(nodeDriver, electron)).toEqual([
      `built for ABI ${process.versions.modules} (node_register_module_v${process.versions.modules}), Electron needs ABI 150`,
    ]);
    const good = path.join(tmp, 'good.node');
    fs.writeFileSync(good, standInDriver('arm64', 150));
    expect(driverProblems(good, { arch: 'arm64', abi: 150 })).toEqual([]);
    expect(driverProblems(good, { arch: 'x64', abi: 150 })).toEqual(['built for arm64, the target is x64']);
    expect(driverProblems(path.join(tmp, 'none.node'), electron)).toEqual(['missing']);
  });
});
