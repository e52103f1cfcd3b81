#!/usr/bin/env node
// Builds the SQLite driver for Electron: better_sqlite3.node for Electron's ABI and a target CPU,
// into native/electron/<os>-<arch>/, where `npm run desktop` and electron-builder.yml take it
// from (docs/desktop.md, "The SQLite driver").
//
//   node build/electron-driver.mjs [--arch x64|arm64] [--platform linux|darwin|win32] [--force]
//
// It never touches node_modules/better-sqlite3, which stays Node's (`npm test`, the CLI): it
// builds in a copy under the system's temp folder. It first asks for better-sqlite3's prebuilt
// binary for this Electron (prebuild-install), then compiles against Electron's headers
// (node-gyp). Whatever comes out is checked before it is kept: on a machine whose npm config
// points node-gyp at Node's own headers (`nodedir`), a "rebuild for Electron" quietly yields a
// driver for Node's ABI, and one for the build machine's CPU when cross-compiling fails.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DRIVER_FILE, driverPath, electronTarget, OS_KEY } from './electron-target.mjs';
import { describeNativeModule, inspectNativeModule, nativeModuleProblems } from './native-module-check.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The environment for the build tools, without what npm hands down that would make them build
 * for Node: `npm run` exports the user's npm config as npm_config_* variables, and node-gyp and
 * prebuild-install read nodedir, target, runtime, arch and dist-url from them.
 */
export function buildEnv(env) {
  const dropped =
    /^npm_config_(nodedir|target|target_arch|target_platform|runtime|arch|platform|disturl|dist_url|build_from_source)$/i;
  return Object.fromEntries(Object.entries(env).filter(([key]) => !dropped.test(key)));
}

/** Why the driver at `file` does not fit; [] when it does. */
export function driverProblems(file, target) {
  if (!fs.existsSync(file)) return ['missing'];
  try {
    return nativeModuleProblems(inspectNativeModule(fs.readFileSync(file)), target);
  } catch (err) {
    return [err.message];
  }
}

function parseArgs(argv) {
  const opts = { arch: process.arch, platform: process.platform, force: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--force') opts.force = true;
    else if (arg === '--arch' || arg === '--platform') opts[arg.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${arg} (use --arch, --platform, --force)`);
  }
  if (!OS_KEY[opts.platform]) throw new Error(`unknown platform ${opts.platform} (linux, darwin or win32)`);
  return opts;
}

function attempt(label, cwd, command, args) {
  console.log(`electron-driver: ${label}`);
  const result = spawnSync(process.execPath, [command, ...args], {
    cwd,
    env: buildEnv(process.env),
    stdio: 'inherit',
    timeout: 15 * 60_000,
  });
  return result.status === 0;
}

export function main(argv) {
  const { arch, platform, force } = parseArgs(argv);
  const { version, abi } = electronTarget(root);
  const target = { arch, abi };
  const out = driverPath(root, OS_KEY[platform], arch);
  const what = `Electron ${version} (ABI ${abi}), ${platform}-${arch}`;
  if (!force && driverProblems(out, target).length === 0) {
    console.log(`electron-driver: ${path.relative(root, out)} is up to date for ${what}`);
    return 0;
  }

  const require = createRequire(import.meta.url);
  const source = path.dirname(require.resolve('better-sqlite3/package.json', { paths: [root] }));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-electron-driver-'));
  const copy = path.join(work, 'better-sqlite3');
  try {
    // Everything but the Node build: a left-over build/ would be taken for the result.
    fs.cpSync(source, copy, {
      recursive: true,
      filter: (src) => path.relative(source, src).split(path.sep)[0] !== 'build',
    });
    const sqliteRequire = createRequire(path.join(source, 'package.json'));
    const built = path.join(copy, 'build', 'Release', DRIVER_FILE);
    const tries = [
      [
        "better-sqlite3's prebuilt binary for this Electron",
        sqliteRequire.resolve('prebuild-install/bin.js'),
        ['--runtime', 'electron', '--target', version, '--arch', arch, '--platform', platform, '--verbose'],
      ],
      [
        "compiling against Electron's headers (node-gyp)",
        require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }),
        [
          'rebuild',
          '--release',
          `--target=${version}`,
          `--arch=${arch}`,
          '--dist-url=https://electronjs.org/headers',
          `--devdir=${path.join(os.homedir(), '.electron-gyp')}`,
        ],
      ],
    ];
    const refused = [];
    for (const [label, command, args] of tries) {
      fs.rmSync(path.join(copy, 'build'), { recursive: true, force: true });
      if (!attempt(label, copy, command, args)) continue;
      const problems = driverProblems(built, target);
      if (problems.length === 0) {
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.copyFileSync(built, out);
        const info = describeNativeModule(inspectNativeModule(fs.readFileSync(out)));
        console.log(`electron-driver: wrote ${path.relative(root, out)} (${info}) for ${what}`);
        return 0;
      }
      refused.push(`${label}: produced a driver that would not load (${problems.join('; ')})`);
      console.error(`electron-driver: refusing what ${refused.at(-1)}`);
    }
    console.error(
      [
        `electron-driver: could not get a SQLite driver for ${what}.`,
        ...refused.map((r) => `  - ${r}`),
        "It needs, once, either the internet (the prebuilt binary, or Electron's headers to compile against)",
        `and a C++ toolchain; for another CPU than this machine's, a cross compiler for ${arch}, or run this`,
        `on a ${arch} machine and copy ${path.relative(root, out)} here. node_modules was not changed.`,
      ].join('\n'),
    );
    return 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`electron-driver: ${err.message}`);
    process.exitCode = 2;
  }
}
