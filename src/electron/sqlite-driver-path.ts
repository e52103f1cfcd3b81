import path from 'node:path';

/**
 * Where the desktop app finds its SQLite driver: a better_sqlite3.node built for Electron's ABI
 * and this CPU, kept apart from node_modules/better-sqlite3 (Node's) so that neither runtime
 * breaks the other (docs/desktop.md, "The SQLite driver"). The layout is the one
 * build/electron-target.mjs writes and electron-builder.yml packages; test/packaging checks
 * that they agree.
 */

export const DRIVER_FILE = 'better_sqlite3.node';

/** electron-builder's `${os}` for a Node platform: the folder names under native/electron. */
const OS_KEY: Partial<Record<NodeJS.Platform, string>> = { linux: 'linux', darwin: 'mac', win32: 'win' };

export interface DriverLocation {
  file: string;
  /** What the user should do when the file is missing or does not load. */
  hint: string;
}

export function desktopSqliteDriver(o: {
  packaged: boolean;
  /** process.resourcesPath: the package's resources folder (extraResources land there). */
  resourcesPath: string;
  /** The repository root, above dist/ (main.ts knows it from its own location). */
  sourceRoot: string;
  platform: NodeJS.Platform;
  arch: string;
}): DriverLocation {
  if (o.packaged) {
    return {
      file: path.join(o.resourcesPath, 'native', DRIVER_FILE),
      hint: 'This installation is incomplete or was built for another computer: reinstall Edgehook from a package for this system.',
    };
  }
  const os = OS_KEY[o.platform] ?? o.platform;
  return {
    file: path.join(o.sourceRoot, 'native', 'electron', `${os}-${o.arch}`, DRIVER_FILE),
    hint: `Build the driver for Electron with \`node build/electron-driver.mjs --arch ${o.arch}\` (\`npm run desktop\` does), then start again.`,
  };
}
