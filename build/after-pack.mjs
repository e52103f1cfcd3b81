// electron-builder afterPack hook (electron-builder.yml): refuses to package a native module
// that cannot load in the packaged app. It runs once per platform and arch, after the app is
// laid out and before the fuses are flipped, the package signed or an installer made.
//
// Why: a driver built for the wrong runtime or CPU packages without a word and fails only on
// the user's machine, at the first `new Database()` (docs/desktop.md, "Building installers").
// Every .node file under the app's resources must match the target CPU and, if it is a classic
// V8 addon, Electron's ABI; the SQLite driver must be there.
import fs from 'node:fs';
import path from 'node:path';
import { DRIVER_FILE, electronTarget } from './electron-target.mjs';
import {
  BUILDER_ARCH,
  describeNativeModule,
  inspectNativeModule,
  nativeModuleProblems,
} from './native-module-check.mjs';

function nodeFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...nodeFiles(full));
    else if (entry.name.endsWith('.node')) found.push(full);
  }
  return found;
}

/**
 * The .node files packed inside app.asar (not the unpacked ones). The archive starts with two
 * Chromium pickles: a UInt32 size pickle, then the header pickle holding one JSON string.
 */
export function asarNodeFiles(asarFile) {
  if (!fs.existsSync(asarFile)) return [];
  const fd = fs.openSync(asarFile, 'r');
  try {
    const head = Buffer.alloc(16);
    fs.readSync(fd, head, 0, 16, 0);
    const json = Buffer.alloc(head.readUInt32LE(12));
    fs.readSync(fd, json, 0, json.length, 16);
    const found = [];
    const walk = (node, prefix) => {
      for (const [name, entry] of Object.entries(node.files ?? {})) {
        const rel = prefix ? `${prefix}/${name}` : name;
        if (entry.files) walk(entry, rel);
        else if (name.endsWith('.node') && !entry.unpacked) found.push(rel);
      }
    };
    walk(JSON.parse(json.toString('utf8')), '');
    return found;
  } finally {
    fs.closeSync(fd);
  }
}

/** Problems of one packaged app directory; [] when every native module fits. */
export function packagedNativeProblems(resourcesDir, target) {
  const problems = [];
  const files = nodeFiles(resourcesDir);
  if (!files.includes(path.join(resourcesDir, 'native', DRIVER_FILE)))
    problems.push(`${path.join('native', DRIVER_FILE)}: missing (the SQLite driver for Electron)`);
  for (const inside of asarNodeFiles(path.join(resourcesDir, 'app.asar')))
    problems.push(
      `app.asar/${inside}: a native module packed inside the archive (the project's Node build; exclude it in "files")`,
    );
  const checked = [];
  for (const file of files) {
    const rel = path.relative(resourcesDir, file);
    let info;
    try {
      info = inspectNativeModule(fs.readFileSync(file));
    } catch (err) {
      problems.push(`${rel}: ${err.message}`);
      continue;
    }
    checked.push(`${rel} (${describeNativeModule(info)})`);
    for (const problem of nativeModuleProblems(info, target)) problems.push(`${rel}: ${problem}`);
  }
  return { problems, checked };
}

export default async function afterPack(context) {
  const arch = BUILDER_ARCH[context.arch];
  const { packager } = context;
  const { abi, version } = electronTarget(packager.projectDir, packager.config.electronVersion);
  const resourcesDir = packager.getResourcesDir(context.appOutDir);
  const { problems, checked } = packagedNativeProblems(resourcesDir, { arch, abi });
  if (problems.length > 0) {
    throw new Error(
      [
        `refusing to package for ${context.electronPlatformName} ${arch} (Electron ${version}, ABI ${abi}): native modules that would not load:`,
        ...problems.map((p) => `  - ${p}`),
        `Build the driver with: node build/electron-driver.mjs --arch ${arch}  (docs/desktop.md, "Building installers")`,
      ].join('\n'),
    );
  }
  console.log(
    `  • native modules match ${context.electronPlatformName} ${arch}, ABI ${abi}: ${checked.join(', ')}`,
  );
}
