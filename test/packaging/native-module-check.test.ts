import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { asarNodeFiles, packagedNativeProblems } from '../../build/after-pack.mjs';
import { inspectNativeModule, nativeModuleProblems } from '../../build/native-module-check.mjs';
import { standInDriver, standInElf } from './stand-ins.js';

/**
 * The packaging check's reading of native modules (docs/desktop.md, "Building installers"):
 * what CPU and ABI a .node file was built for, from real binaries where this machine has them
 * (the project's own better-sqlite3 build, a module compiled here) and from stand-ins for the
 * CPUs it has no compiler for.
 */

const require = createRequire(import.meta.url);
const nodeDriver = path.join(
  path.dirname(require.resolve('better-sqlite3/package.json')),
  'build/Release/better_sqlite3.node',
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-native-check-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('inspectNativeModule', () => {
  it("reads the project's better-sqlite3 as what it is: x86-64 (this machine), Node 20's ABI 115", () => {
    const info = inspectNativeModule(fs.readFileSync(nodeDriver));
    expect(info).toEqual({
      format: 'elf',
      cpus: [os.arch()],
      abi: Number(process.versions.modules),
      napi: false,
    });
  });

  it('reads a module compiled here with the C compiler, and ignores symbols it only imports', () => {
    const src = path.join(tmp, 'addon.c');
    fs.writeFileSync(
      src,
      'extern void node_register_module_v115(void);\n' +
        'void node_register_module_v150(void) { node_register_module_v115(); }\n',
    );
    const out = path.join(tmp, 'addon.node');
    execFileSync('cc', ['-shared', '-fPIC', '-o', out, src]);
    expect(inspectNativeModule(fs.readFileSync(out))).toMatchObject({ format: 'elf', abi: 150, napi: false });
  });

  it('reads the CPU and the ABI of stand-ins for other CPUs, and N-API modules', () => {
    expect(inspectNativeModule(standInDriver('arm64', 150))).toEqual({
      format: 'elf',
      cpus: ['arm64'],
      abi: 150,
      napi: false,
    });
    expect(inspectNativeModule(standInElf('armv7l', ['napi_register_module_v1']))).toMatchObject({
      cpus: ['armv7l'],
      abi: undefined,
      napi: true,
    });
  });

  it('reads the machine field of Mach-O (thin and universal) and PE headers', () => {
    const macho = Buffer.alloc(64);
    macho.writeUInt32LE(0xfeedfacf, 0);
    macho.writeUInt32LE(0x0100000c, 4);
    Buffer.from('_node_register_module_v150\0').copy(macho, 32);
    expect(inspectNativeModule(macho)).toEqual({ format: 'macho', cpus: ['arm64'], abi: 150, napi: false });
    const fat = Buffer.alloc(64);
    fat.writeUInt32BE(0xcafebabe, 0);
    fat.writeUInt32BE(2, 4);
    fat.writeUInt32BE(0x01000007, 8);
    fat.writeUInt32BE(0x0100000c, 28);
    expect(inspectNativeModule(fat).cpus).toEqual(['x64', 'arm64']);
    const pe = Buffer.alloc(256);
    pe.write('MZ', 0, 'latin1');
    pe.writeUInt32LE(0x80, 0x3c);
    pe.writeUInt32BE(0x50450000, 0x80);
    pe.writeUInt16LE(0x8664, 0x84);
    pe.write('napi_register_module_v1', 0xa0, 'latin1');
    expect(inspectNativeModule(pe)).toEqual({ format: 'pe', cpus: ['x64'], abi: undefined, napi: true });
  });

  it('refuses what is not a native module', () => {
    expect(() => inspectNativeModule(Buffer.from('#!/bin/sh\necho hello\n'.repeat(4)))).toThrow(
      /not an ELF, Mach-O or PE/,
    );
  });
});

describe('nativeModuleProblems', () => {
  const electron45 = { arch: 'arm64', abi: 150 };

  it('accepts a module built for the target CPU and ABI, and an N-API module for the CPU', () => {
    expect(nativeModuleProblems(inspectNativeModule(standInDriver('arm64', 150)), electron45)).toEqual([]);
    const napi = inspectNativeModule(standInElf('arm64', ['napi_register_module_v1']));
    expect(nativeModuleProblems(napi, electron45)).toEqual([]);
  });

  it("names both faults of the project's Node build shipped in an arm64 Electron package", () => {
    expect(nativeModuleProblems(inspectNativeModule(fs.readFileSync(nodeDriver)), electron45)).toEqual([
      'built for x64, the target is arm64',
      'built for ABI 115 (node_register_module_v115), Electron needs ABI 150',
    ]);
  });
});

describe('packagedNativeProblems (the afterPack check of one app directory)', () => {
  function resources(name: string, driver: Buffer | undefined): string {
    const dir = path.join(tmp, name, 'resources');
    fs.mkdirSync(path.join(dir, 'native'), { recursive: true });
    if (driver) fs.writeFileSync(path.join(dir, 'native', 'better_sqlite3.node'), driver);
    return dir;
  }

  it('passes a matching driver and fails a missing one', () => {
    const ok = resources('ok', standInDriver('x64', 150));
    expect(packagedNativeProblems(ok, { arch: 'x64', abi: 150 }).problems).toEqual([]);
    const missing = resources('missing', undefined);
    expect(packagedNativeProblems(missing, { arch: 'x64', abi: 150 }).problems).toEqual([
      'native/better_sqlite3.node: missing (the SQLite driver for Electron)',
    ]);
  });

  it('fails a stray module left unpacked beside the driver', () => {
    const dir = resources('stray', standInDriver('x64', 150));
    const stray = path.join(dir, 'app.asar.unpacked/node_modules/better-sqlite3/build/Release');
    fs.mkdirSync(stray, { recursive: true });
    fs.copyFileSync(nodeDriver, path.join(stray, 'better_sqlite3.node'));
    expect(packagedNativeProblems(dir, { arch: 'x64', abi: 150 }).problems).toEqual([
      'app.asar.unpacked/node_modules/better-sqlite3/build/Release/better_sqlite3.node: built for ABI 115 (node_register_module_v115), Electron needs ABI 150',
    ]);
  });

  it('finds .node files packed inside app.asar from its header', () => {
    const header = JSON.stringify({
      files: {
        'package.json': { size: 2, offset: '0' },
        node_modules: {
          files: {
            a: { files: { 'a.node': { size: 1, offset: '2' } } },
            b: { files: { 'b.node': { size: 1, unpacked: true } } },
          },
        },
      },
    });
    // Chromium pickles: [4, headerPickleSize] then [payloadSize, stringLength, string…].
    const json = Buffer.from(header);
    const padded = json.length + ((4 - (json.length % 4)) % 4);
    const head = Buffer.alloc(16);
    head.writeUInt32LE(4, 0);
    head.writeUInt32LE(padded + 8, 4);
    head.writeUInt32LE(padded + 4, 8);
    head.writeUInt32LE(json.length, 12);
    const file = path.join(tmp, 'app.asar');
    fs.writeFileSync(file, Buffer.concat([head, json, Buffer.alloc(padded - json.length + 3)]));
    expect(asarNodeFiles(file)).toEqual(['node_modules/a/a.node']);
  });
});
