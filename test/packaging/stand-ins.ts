import fs from 'node:fs';
import path from 'node:path';

/**
 * Stand-ins for what cannot be had here (no Electron binary, no cross compiler): an ELF shared
 * object with the header and dynamic symbols of a native module built for a given CPU and ABI,
 * and an unpacked "Electron" whose executable carries a fuse wire. electron-builder packages
 * around them as around the real ones; the checks read only headers, symbols and the wire.
 */

const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7, armv7l: 0x28, ia32: 0x03 } as const;
export type StandInArch = keyof typeof ELF_MACHINE;

/** A 64-bit little-endian ELF .so defining `exported` and importing `imported` (undefined symbols). */
export function standInElf(arch: StandInArch, exported: string[], imported: string[] = []): Buffer {
  const names = [...exported, ...imported];
  const dynstr = Buffer.from(`\0${names.map((n) => `${n}\0`).join('')}`, 'latin1');
  const dynsym = Buffer.alloc(24 * (names.length + 1));
  let nameAt = 1;
  names.forEach((name, i) => {
    const at = 24 * (i + 1);
    dynsym.writeUInt32LE(nameAt, at);
    dynsym[at + 4] = 0x12; // STB_GLOBAL, STT_FUNC
    dynsym.writeUInt16LE(i < exported.length ? 1 : 0, at + 6); // section 0 = undefined (imported)
    nameAt += Buffer.byteLength(name, 'latin1') + 1;
  });
  const shstrtab = Buffer.from('\0.dynsym\0.dynstr\0.shstrtab\0', 'latin1');
  const dynstrAt = 64;
  const dynsymAt = dynstrAt + dynstr.length + ((8 - (dynstr.length % 8)) % 8);
  const shstrAt = dynsymAt + dynsym.length;
  const shoff = shstrAt + shstrtab.length + ((8 - (shstrtab.length % 8)) % 8);
  const out = Buffer.alloc(shoff + 4 * 64);
  out.writeUInt32BE(0x7f454c46, 0);
  out[4] = 2; // 64-bit
  out[5] = 1; // little-endian
  out[6] = 1;
  out.writeUInt16LE(3, 16); // ET_DYN
  out.writeUInt16LE(ELF_MACHINE[arch], 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 0x28);
  out.writeUInt16LE(64, 0x34);
  out.writeUInt16LE(64, 0x3a);
  out.writeUInt16LE(4, 0x3c);
  out.writeUInt16LE(3, 0x3e);
  dynstr.copy(out, dynstrAt);
  dynsym.copy(out, dynsymAt);
  shstrtab.copy(out, shstrAt);
  const section = (
    i: number,
    name: number,
    type: number,
    offset: number,
    size: number,
    link = 0,
    entsize = 0,
  ) => {
    const at = shoff + i * 64;
    out.writeUInt32LE(name, at);
    out.writeUInt32LE(type, at + 4);
    out.writeBigUInt64LE(BigInt(offset), at + 0x18);
    out.writeBigUInt64LE(BigInt(size), at + 0x20);
    out.writeUInt32LE(link, at + 0x28);
    out.writeBigUInt64LE(BigInt(entsize), at + 0x38);
  };
  section(1, 1, 11, dynsymAt, dynsym.length, 2, 24); // .dynsym, strings in section 2
  section(2, 9, 3, dynstrAt, dynstr.length); // .dynstr
  section(3, 17, 3, shstrAt, shstrtab.length); // .shstrtab
  return out;
}

/** A stand-in better_sqlite3.node: a classic V8 addon for `abi`, as better-sqlite3 12 builds. */
export function standInDriver(arch: StandInArch, abi: number): Buffer {
  return standInElf(arch, [`node_register_module_v${abi}`], ['sqlite3_open_v2']);
}

export const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Electron 45's fuse defaults, in wire order (@electron/fuses FuseV1Options): '1' on, '0' off. */
export const ELECTRON_FUSE_DEFAULTS = '10110001';

/** An unpacked Electron for Linux as electron-builder expects it (`-c.electronDist=DIR`). */
export function standInElectron(dir: string, arch: StandInArch, version: string): void {
  fs.mkdirSync(path.join(dir, 'resources'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'locales'), { recursive: true });
  const wire = Buffer.concat([
    Buffer.from(FUSE_SENTINEL, 'latin1'),
    Buffer.from([1, ELECTRON_FUSE_DEFAULTS.length]),
    Buffer.from(ELECTRON_FUSE_DEFAULTS, 'latin1'),
  ]);
  fs.writeFileSync(path.join(dir, 'electron'), Buffer.concat([standInElf(arch, ['main']), wire]), {
    mode: 0o755,
  });
  fs.writeFileSync(path.join(dir, 'chrome-sandbox'), standInElf(arch, ['main']), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'version'), version);
  fs.writeFileSync(path.join(dir, 'LICENSE'), 'stand-in\n');
  fs.writeFileSync(path.join(dir, 'LICENSES.chromium.html'), '<p>stand-in</p>\n');
  fs.writeFileSync(path.join(dir, 'locales', 'en-US.pak'), '');
}
