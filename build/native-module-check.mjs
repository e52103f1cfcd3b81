// Reads what a native Node module (.node file) was built for: its CPU, from the ELF, Mach-O or
// PE header, and its ABI, from the registration symbol it exports. A classic V8 addon such as
// better-sqlite3 12 exports `node_register_module_v<ABI>` and loads only in a runtime with that
// ABI (Node 20: 115, Electron 45: 150); an N-API addon exports `napi_register_module_v1` and
// loads in any. Used by the packaging check (build/after-pack.mjs) and by
// build/electron-driver.mjs, so a driver for the wrong CPU or runtime is refused before it ships
// (docs/desktop.md, "Building installers").

/** electron-builder's Arch enum, by number (builder-util): what afterPack's context.arch holds. */
export const BUILDER_ARCH = ['ia32', 'x64', 'armv7l', 'arm64', 'universal'];

const ELF_MACHINES = new Map([
  [0x03, 'ia32'],
  [0x28, 'armv7l'],
  [0x3e, 'x64'],
  [0xb7, 'arm64'],
]);
const MACHO_CPUS = new Map([
  [0x07, 'ia32'],
  [0x01000007, 'x64'],
  [0x0c, 'armv7l'],
  [0x0100000c, 'arm64'],
]);
const PE_MACHINES = new Map([
  [0x014c, 'ia32'],
  [0x01c4, 'armv7l'],
  [0x8664, 'x64'],
  [0xaa64, 'arm64'],
]);

const REGISTER = /^node_register_module_v(\d+)$/;
const NAPI = 'napi_register_module_v1';

/**
 * @typedef {{ format: 'elf' | 'macho' | 'pe', cpus: string[], abi: number | undefined, napi: boolean }} NativeModuleInfo
 */

/**
 * What the binary in `buf` was built for. Throws when it is no native module at all.
 * @param {Buffer} buf
 * @returns {NativeModuleInfo}
 */
export function inspectNativeModule(buf) {
  if (buf.length >= 64 && buf.readUInt32BE(0) === 0x7f454c46) return inspectElf(buf);
  if (buf.length >= 64 && buf.toString('latin1', 0, 2) === 'MZ') return inspectPe(buf);
  if (buf.length >= 32) {
    const le = buf.readUInt32LE(0);
    const be = buf.readUInt32BE(0);
    if (le === 0xfeedfacf || le === 0xfeedface || be === 0xcafebabe) return inspectMachO(buf);
  }
  throw new Error('not an ELF, Mach-O or PE file');
}

function unknownCpu(format, value) {
  return `unknown (${format} machine 0x${value.toString(16)})`;
}

/** ELF: e_machine at 18; the exported names are in .dynsym, whose strings are in its linked section. */
function inspectElf(buf) {
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const word = (o) => (is64 ? Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o));
  const machine = u16(18);
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const section = (i) => {
    const at = shoff + i * shentsize;
    return {
      type: u32(at + 4),
      offset: word(at + (is64 ? 0x18 : 0x10)),
      size: word(at + (is64 ? 0x20 : 0x14)),
      link: u32(at + (is64 ? 0x28 : 0x18)),
      entsize: word(at + (is64 ? 0x38 : 0x24)),
    };
  };
  const names = [];
  for (let i = 0; i < shnum; i++) {
    const sym = section(i);
    if (sym.type !== 11 /* SHT_DYNSYM */) continue;
    const strtab = section(sym.link);
    const entsize = sym.entsize || (is64 ? 24 : 16);
    for (let at = sym.offset; at + entsize <= sym.offset + sym.size; at += entsize) {
      // A symbol with section index 0 is one the module imports, not one it defines.
      const shndx = u16(at + (is64 ? 6 : 14));
      if (shndx === 0) continue;
      const start = strtab.offset + u32(at);
      const end = buf.indexOf(0, start);
      names.push(buf.toString('latin1', start, end));
    }
  }
  return {
    format: 'elf',
    cpus: [ELF_MACHINES.get(machine) ?? unknownCpu('ELF', machine)],
    ...fromSymbols(names),
  };
}

/**
 * Mach-O, thin or fat (universal): the CPU types from the header(s). The symbol names are read
 * from the file's strings: an exported name is stored verbatim in the string table, and the
 * registration symbol's name appears nowhere else in an addon.
 */
function inspectMachO(buf) {
  const cpus = [];
  if (buf.readUInt32BE(0) === 0xcafebabe) {
    const count = buf.readUInt32BE(4);
    for (let i = 0; i < count; i++) {
      const type = buf.readUInt32BE(8 + i * 20);
      cpus.push(MACHO_CPUS.get(type) ?? unknownCpu('Mach-O', type));
    }
  } else {
    const type = buf.readUInt32LE(4);
    cpus.push(MACHO_CPUS.get(type) ?? unknownCpu('Mach-O', type));
  }
  return { format: 'macho', cpus, ...fromStrings(buf) };
}

/** PE: the COFF header's Machine field; exported names read as for Mach-O. */
function inspectPe(buf) {
  const pe = buf.readUInt32LE(0x3c);
  if (buf.readUInt32BE(pe) !== 0x50450000) throw new Error('an MZ file without a PE header');
  const machine = buf.readUInt16LE(pe + 4);
  return { format: 'pe', cpus: [PE_MACHINES.get(machine) ?? unknownCpu('PE', machine)], ...fromStrings(buf) };
}

function fromSymbols(names) {
  let abi;
  for (const name of names) {
    const m = REGISTER.exec(name);
    if (m) abi = Number(m[1]);
  }
  return { abi, napi: names.includes(NAPI) };
}

function fromStrings(buf) {
  const text = buf.toString('latin1');
  const m = /node_register_module_v(\d+)/.exec(text);
  return { abi: m ? Number(m[1]) : undefined, napi: text.includes(NAPI) };
}

/**
 * Why a module cannot load in the target; [] when it can.
 * @param {NativeModuleInfo} info
 * @param {{ arch: string, abi: number, runtime?: string }} target
 */
export function nativeModuleProblems(info, target) {
  const runtime = target.runtime ?? 'Electron';
  const problems = [];
  if (!info.cpus.includes(target.arch))
    problems.push(`built for ${info.cpus.join(' + ')}, the target is ${target.arch}`);
  if (info.abi !== undefined && info.abi !== target.abi)
    problems.push(
      `built for ABI ${info.abi} (node_register_module_v${info.abi}), ${runtime} needs ABI ${target.abi}`,
    );
  if (info.abi === undefined && !info.napi)
    problems.push('exports neither node_register_module_vN nor napi_register_module_v1');
  return problems;
}

/** One line for logs: "elf x64, ABI 115" or "elf arm64, N-API". */
export function describeNativeModule(info) {
  return `${info.format} ${info.cpus.join(' + ')}, ${info.abi !== undefined ? `ABI ${info.abi}` : info.napi ? 'N-API' : 'no ABI'}`;
}
