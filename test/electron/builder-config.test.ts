import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * electron-builder.yml cannot be tried here (packaging downloads Electron, docs/desktop.md
 * "Building installers"), so it is checked two ways: against the JSON schema electron-builder ships
 * (app-builder-lib/scheme.json), strictly with ajv, and with electron-builder's own
 * validateConfiguration, the function a real `electron-builder` run calls first.
 */

const root = new URL('../../', import.meta.url);
const require = createRequire(import.meta.url);
// Resolved from app-builder-lib, so the test uses the very ajv and minimatch electron-builder uses.
const builderRequire = createRequire(require.resolve('app-builder-lib/package.json'));
const Ajv = (builderRequire('ajv') as { default: new (o: object) => AjvLike }).default;
const { minimatch } = builderRequire('minimatch') as {
  minimatch: (path: string, pattern: string, o?: object) => boolean;
};
const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  validateConfiguration: (config: unknown, debug: { isEnabled: boolean; add(): void }) => Promise<void>;
};

interface AjvLike {
  compile(
    schema: unknown,
  ): ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
}

type Target = { target: string; arch: string[] };
interface BuilderConfig {
  directories: { output: string; buildResources: string };
  files: string[];
  asarUnpack?: string[];
  npmRebuild: boolean;
  extraResources: unknown;
  afterPack: string;
  linux: { target: Target[] };
  mac: { target: Target[] };
  win: { target: Target[] };
  [key: string]: unknown;
}

function loadConfig(): BuilderConfig {
  return parse(fs.readFileSync(new URL('electron-builder.yml', root), 'utf8')) as BuilderConfig;
}

const schema = JSON.parse(fs.readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8'));
// No type coercion: a quoted "true" or a number as a string is a mistake in our file, even if
// electron-builder would quietly coerce it.
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

function schemaErrors(config: unknown): string[] {
  return validate(config) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

/** Whether electron-builder's `files` patterns (in order, "!" excludes) put `file` in the app. */
function packaged(patterns: string[], file: string): boolean {
  let included = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (minimatch(file, p.slice(1), { dot: true })) included = false;
    } else if (minimatch(file, p, { dot: true })) included = true;
  }
  return included;
}

describe('electron-builder.yml', () => {
  it("matches electron-builder's JSON schema", () => {
    expect(schemaErrors(loadConfig())).toEqual([]);
  });

  it("passes electron-builder's own validation", async () => {
    await expect(
      validateConfiguration(loadConfig(), { isEnabled: false, add: () => undefined }),
    ).resolves.toBeUndefined();
  });

  it('the validation catches mistakes (so the checks above mean something)', async () => {
    const typo = { ...loadConfig(), npmRebuld: true };
    expect(schemaErrors(typo).join()).toMatch(/additional properties/);
    await expect(validateConfiguration(typo, { isEnabled: false, add: () => undefined })).rejects.toThrow(
      /npmRebuld/,
    );
    expect(schemaErrors({ ...loadConfig(), npmRebuild: 'yes' }).join()).toMatch(/npmRebuild must be boolean/);
  });

  it('builds deb for x64 and arm64 (Raspberry Pi OS), dmg and nsis; no AppImage (docs/desktop.md)', () => {
    const config = loadConfig();
    const linux = Object.fromEntries(config.linux.target.map((t) => [t.target, [...t.arch].sort()]));
    expect(linux).toEqual({ deb: ['arm64', 'x64'] });
    expect(config.mac.target.map((t) => t.target)).toEqual(['dmg']);
    expect(config.win.target.map((t) => t.target)).toEqual(['nsis']);
  });

  it('never rebuilds node_modules; ships the Electron driver from native/ and checks it after packing', () => {
    const config = loadConfig();
    expect(config.npmRebuild).toBe(false);
    expect(config.extraResources).toEqual([
      { from: 'native/electron/${os}-${arch}', to: 'native', filter: ['better_sqlite3.node'] },
    ]);
    expect(config.afterPack).toBe('build/after-pack.mjs');
    expect(fs.existsSync(new URL('build/after-pack.mjs', root))).toBe(true);
    // The driver is a plain file in resources/native: nothing needs unpacking from the asar.
    expect(config.asarUnpack).toBeUndefined();
  });

  it("leaves better-sqlite3's Node build and C++ sources out of the app, keeping its JavaScript", () => {
    const { files } = loadConfig();
    const excluded = (file: string) =>
      files.some((p) => p.startsWith('!') && minimatch(file, p.slice(1), { dot: true }));
    for (const file of [
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/better-sqlite3/deps/sqlite3/sqlite3.c',
      'node_modules/better-sqlite3/src/better_sqlite3.cpp',
    ])
      expect(excluded(file), file).toBe(true);
    expect(excluded('node_modules/better-sqlite3/lib/database.js')).toBe(false);
    expect(excluded('node_modules/better-sqlite3/package.json')).toBe(false);
  });

  it("re-signs ad hoc after the fuses, and does not take the CLI's name", () => {
    const config = loadConfig() as BuilderConfig & {
      electronFuses: Record<string, boolean>;
      linux: { executableName: string; syncDesktopName: boolean };
    };
    expect(config.electronFuses.resetAdHocDarwinSignature).toBe(true);
    const pkg = JSON.parse(fs.readFileSync(new URL('package.json', root), 'utf8')) as {
      bin: Record<string, string>;
      desktopName: string;
    };
    expect(Object.keys(pkg.bin)).toContain('edgehook');
    expect(config.linux.executableName).toBe('edgehook-desktop');
    expect(pkg.desktopName).toBe(`${config.linux.executableName}.desktop`);
    expect(config.linux.syncDesktopName).toBe(true);
  });

  it('packages the main process, the preload, the core and the admin UI, not the sources', () => {
    const { files } = loadConfig();
    for (const file of [
      'package.json',
      'dist/electron/main.js',
      'dist/electron/preload.cjs',
      'dist/agent/create-agent.js',
      'dist/ui/index.html',
    ]) {
      expect(packaged(files, file), file).toBe(true);
    }
    for (const file of [
      'src/electron/main.ts',
      'test/electron/main.test.ts',
      'dist/electron/main.js.map',
      'electron-builder.yml',
    ]) {
      expect(packaged(files, file), file).toBe(false);
    }
  });

  it('writes installers outside dist/ (the compiled code) and finds its icon in build/', () => {
    const { directories } = loadConfig();
    expect(directories.output).not.toMatch(/^dist\/?$/);
    expect(fs.existsSync(new URL(`${directories.buildResources}/icon.png`, root))).toBe(true);
  });
});
