import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { asarNodeFiles } from '../../build/after-pack.mjs';
import { electronTarget } from '../../build/electron-target.mjs';
import { inspectNativeModule } from '../../build/native-module-check.mjs';
import { ELECTRON_FUSE_DEFAULTS, type StandInArch, standInDriver, standInElectron } from './stand-ins.js';

/**
 * The desktop packages as electron-builder really makes them from electron-builder.yml, for
 * linux x64 and arm64, around a stand-in Electron (`-c.electronDist`: no Electron binary can be
 * had here) and stand-in drivers (no arm64 compiler here). Only three things differ from a
 * release build: the Electron directory, where the drivers are taken from and where the output
 * goes. The `dir` target stops before the deb, whose tools would be downloaded.
 * `npm run test:package` (vitest.package.config.ts); .ci/run runs it. docs/desktop.md,
 * "Building installers".
 */

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const root = path.resolve(import.meta.dirname, '../..');
const sqliteDir = path.dirname(require.resolve('better-sqlite3/package.json'));
const nodeDriver = path.join(sqliteDir, 'build/Release/better_sqlite3.node');
const { version: electronVersion, abi } = electronTarget(root);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-package-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** sha256 of every file under `dir`, by relative path: "byte-for-byte unchanged". */
function treeHash(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile())
        out.set(
          path.relative(dir, full),
          crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex'),
        );
    }
  };
  walk(dir);
  return out;
}

/** Runs electron-builder on the project's config with drivers from `drivers`; resolves with its output. */
async function pack(name: string, archs: StandInArch[], drivers: Partial<Record<StandInArch, Buffer>>) {
  const work = path.join(tmp, name);
  for (const [arch, driver] of Object.entries(drivers)) {
    fs.mkdirSync(path.join(work, 'native', `linux-${arch}`), { recursive: true });
    fs.writeFileSync(path.join(work, 'native', `linux-${arch}`, 'better_sqlite3.node'), driver);
  }
  // One stand-in per build: electron-builder copies it, so its arch only has to be plausible.
  standInElectron(path.join(work, 'electron'), archs[0]!, electronVersion);
  const config = parse(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8'));
  config.directories.output = path.join(work, 'out');
  // The drivers come from this test's folder; a config without the entry packages without them.
  if (config.extraResources?.[0]) config.extraResources[0].from = path.join(work, 'native', '${os}-${arch}');
  config.electronDist = path.join(work, 'electron');
  const configFile = path.join(work, 'electron-builder.yml');
  fs.writeFileSync(configFile, stringify(config));
  const args = [require.resolve('electron-builder/cli.js'), '--config', configFile, '--publish', 'never'];
  args.push('--linux', 'dir', ...archs.map((a) => `--${a}`));
  try {
    const { stdout, stderr } = await run(process.execPath, args, {
      cwd: root,
      timeout: 150_000,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, CI: 'true' },
    });
    return { ok: true, output: stdout + stderr, out: path.join(work, 'out') };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}`, out: path.join(work, 'out') };
  }
}

/** One file's bytes from an asar archive: its offset counts from the end of the header. */
function asarRead(asarFile: string, file: string): Buffer {
  const buf = fs.readFileSync(asarFile);
  const header = JSON.parse(buf.toString('utf8', 16, 16 + buf.readUInt32LE(12)));
  let node = header;
  for (const part of file.split('/')) node = node.files[part];
  const start = 8 + buf.readUInt32LE(4) + Number(node.offset);
  return buf.subarray(start, start + node.size);
}

/** The file list of an asar archive, from its header. */
function asarFiles(asarFile: string): string[] {
  const buf = fs.readFileSync(asarFile);
  const header = JSON.parse(buf.toString('utf8', 16, 16 + buf.readUInt32LE(12))) as {
    files: Record<string, object>;
  };
  const files: string[] = [];
  const walk = (node: { files?: Record<string, object> }, prefix: string) => {
    for (const [name, entry] of Object.entries(node.files ?? {})) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if ((entry as { files?: object }).files) walk(entry as { files: Record<string, object> }, rel);
      else files.push(rel);
    }
  };
  walk(header, '');
  return files;
}

let before: Map<string, string>;
beforeAll(() => {
  before = treeHash(sqliteDir);
});

describe('linux packages around a stand-in Electron', () => {
  let good: Awaited<ReturnType<typeof pack>>;
  beforeAll(async () => {
    good = await pack('good', ['x64', 'arm64'], {
      x64: standInDriver('x64', abi),
      arm64: standInDriver('arm64', abi),
    });
  }, 200_000);

  it('packages x64 and arm64 when each driver matches its target', () => {
    expect(good.output).toMatch(/native modules match linux x64, ABI \d+/);
    expect(good.output).toMatch(/native modules match linux arm64, ABI \d+/);
    expect(good.ok, good.output).toBe(true);
  });

  for (const [arch, dir] of [
    ['x64', 'linux-unpacked'],
    ['arm64', 'linux-arm64-unpacked'],
  ] as const) {
    it(`${arch}: the driver in resources/native is for ${arch} and Electron's ABI; no other .node ships`, () => {
      const resources = path.join(good.out, dir, 'resources');
      const driver = inspectNativeModule(
        fs.readFileSync(path.join(resources, 'native', 'better_sqlite3.node')),
      );
      expect(driver).toEqual({ format: 'elf', cpus: [arch], abi, napi: false });
      expect(fs.existsSync(path.join(resources, 'app.asar.unpacked'))).toBe(false);
      expect(asarNodeFiles(path.join(resources, 'app.asar'))).toEqual([]);
    });

    it(`${arch}: app.asar holds the main process, preload, core, UI and better-sqlite3's JavaScript only`, () => {
      const files = asarFiles(path.join(good.out, dir, 'resources', 'app.asar'));
      for (const file of [
        'package.json',
        'dist/electron/main.js',
        'dist/electron/preload.cjs',
        'dist/agent/create-agent.js',
        'dist/outbox/sqlite-driver.js',
        'dist/ui/index.html',
        'node_modules/better-sqlite3/lib/database.js',
        'node_modules/better-sqlite3/package.json',
      ])
        expect(files, file).toContain(file);
      const sqlite = files.filter((f) => f.startsWith('node_modules/better-sqlite3/'));
      expect(sqlite.filter((f) => /\/(build|deps|src)\//.test(f))).toEqual([]);
      expect(
        files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('node_modules/')),
      ).toEqual([]);
      expect(files.filter((f) => f.endsWith('.map') && f.startsWith('dist/'))).toEqual([]);
      expect(files).not.toContain('electron-builder.yml');
      // Electron starts the app from package.json "main", set by extraMetadata.
      const pkg = JSON.parse(
        asarRead(path.join(good.out, dir, 'resources', 'app.asar'), 'package.json').toString(),
      );
      expect(pkg).toMatchObject({ main: 'dist/electron/main.js', productName: 'Edgehook', type: 'module' });
    });

    it(`${arch}: the executable is edgehook-desktop, its fuse wire as configured`, async () => {
      const exe = path.join(good.out, dir, 'edgehook-desktop');
      expect(fs.existsSync(exe)).toBe(true);
      expect(fs.existsSync(path.join(good.out, dir, 'edgehook'))).toBe(false);
      const { getCurrentFuseWire, FuseV1Options } =
        require('@electron/fuses') as typeof import('@electron/fuses');
      const wire = (await getCurrentFuseWire(exe)) as unknown as Record<number, number>;
      // @electron/fuses' FuseState: the wire holds the characters '1' (on) and '0' (off).
      const on = '1'.charCodeAt(0);
      const off = '0'.charCodeAt(0);
      expect({
        runAsNode: wire[FuseV1Options.RunAsNode],
        cookieEncryption: wire[FuseV1Options.EnableCookieEncryption],
        nodeOptions: wire[FuseV1Options.EnableNodeOptionsEnvironmentVariable],
        inspect: wire[FuseV1Options.EnableNodeCliInspectArguments],
        asarIntegrity: wire[FuseV1Options.EnableEmbeddedAsarIntegrityValidation],
        onlyAsar: wire[FuseV1Options.OnlyLoadAppFromAsar],
        grantFile: wire[FuseV1Options.GrantFileProtocolExtraPrivileges],
      }).toEqual({
        runAsNode: off,
        // Not configured: Electron's own default stays.
        cookieEncryption: ELECTRON_FUSE_DEFAULTS.charCodeAt(1),
        nodeOptions: off,
        inspect: off,
        asarIntegrity: on,
        onlyAsar: on,
        grantFile: off,
      });
    });
  }
});

describe('packaging refuses a driver that would not load', () => {
  it("refuses the project's own Node build as the arm64 driver (the x86-64, ABI-115 fault), naming both faults", async () => {
    const bad = await pack('node-build-as-arm64', ['arm64'], { arm64: fs.readFileSync(nodeDriver) });
    expect(bad.ok).toBe(false);
    expect(bad.output).toContain(
      `refusing to package for linux arm64 (Electron ${electronVersion}, ABI ${abi})`,
    );
    expect(bad.output).toContain('native/better_sqlite3.node: built for x64, the target is arm64');
    expect(bad.output).toMatch(
      new RegExp(
        `native/better_sqlite3\\.node: built for ABI ${process.versions.modules} .*Electron needs ABI ${abi}`,
      ),
    );
    expect(fs.existsSync(path.join(bad.out, 'linux-arm64-unpacked', 'edgehook-desktop'))).toBe(true);
  }, 200_000);

  it('refuses to package without a driver', async () => {
    const bad = await pack('no-driver', ['x64'], {});
    expect(bad.ok).toBe(false);
    expect(bad.output).toContain('native/better_sqlite3.node: missing (the SQLite driver for Electron)');
  }, 200_000);
});

describe("the project's node_modules after packaging", () => {
  it('better-sqlite3 is byte-for-byte unchanged and still loads in Node', async () => {
    expect(treeHash(sqliteDir)).toEqual(before);
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        "console.log(new (require('better-sqlite3'))(':memory:').prepare('select 41 + 1 as n').get().n)",
      ],
      { cwd: root },
    );
    expect(stdout.trim()).toBe('42');
  });
});
