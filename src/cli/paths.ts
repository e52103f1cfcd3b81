import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { SYSTEM_CONFIG_FILE, SYSTEM_DATA_DIR } from '../config/system-paths.js';

/**
 * Where the config file and the data directory are, for every command (README "Command line"). In order:
 *
 * config file
 *   1. --config FILE
 *   2. $EDGEHOOK_CONFIG
 *   3. ./edgehook.yaml when it exists (a project directory, `npm start`)
 *   4. the platform file when it exists: /etc/edgehook/edgehook.yaml (system) or
 *      $XDG_CONFIG_HOME/edgehook/edgehook.yaml, default ~/.config/edgehook/edgehook.yaml (user)
 *   5. <data dir>/edgehook.yaml, the file the admin UI writes when the agent ran without one
 *   6. none: built-in defaults
 *
 * data directory
 *   1. --data-dir DIR
 *   2. $EDGEHOOK_DATA_DIR
 *   3. the config file's own `dataDir` (relative to the file), when it sets one, or when the file
 *      was named explicitly (1-3 above: then the schema default ./edgehook-data beside it)
 *   4. the platform directory: /var/lib/edgehook (system) or $XDG_DATA_HOME/edgehook, default
 *      ~/.local/share/edgehook (user)
 *
 * "system" means the machine-wide service layout. It is chosen by --system, or when running as
 * root while /etc/edgehook/edgehook.yaml exists (so `sudo edgehook status` on a gateway finds
 * the service). Everything else is "user". The systemd unit does not rely on this: it names
 * both paths on its command line.
 *
 * Empty environment variables count as unset (a unit's `Environment=EDGEHOOK_CONFIG=`).
 */

export { SYSTEM_CONFIG_FILE, SYSTEM_DATA_DIR };
const CONFIG_NAME = 'edgehook.yaml';

export type PathMode = 'user' | 'system';
export type ConfigSource = 'flag' | 'env' | 'cwd' | 'platform' | 'data-dir' | 'none';

export interface ResolvePathsOptions {
  config?: string | undefined;
  dataDir?: string | undefined;
  system?: boolean | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Tests: the effective uid (process.getuid()). */
  uid?: number;
  /** Tests: a file system to look at. */
  exists?: (path: string) => boolean;
}

export interface ResolvedPaths {
  mode: PathMode;
  /** Absolute, or undefined for built-in defaults. */
  configFile: string | undefined;
  configSource: ConfigSource;
  /** Pass to loadConfigFile as dataDirOverride; undefined: the file's dataDir decides. */
  dataDirOverride: string | undefined;
  /** This mode's defaults, for messages ("looked in …"). */
  platform: { configFile: string; dataDir: string };
}

export function platformPaths(
  mode: PathMode,
  env: NodeJS.ProcessEnv = process.env,
): { configFile: string; dataDir: string } {
  if (mode === 'system') return { configFile: SYSTEM_CONFIG_FILE, dataDir: SYSTEM_DATA_DIR };
  const home = nonEmpty(env.HOME) ?? homedir();
  // XDG Base Directory spec: a relative XDG_* value is invalid and must be ignored.
  const xdg = (name: string, fallback: string) => {
    const v = nonEmpty(env[name]);
    return v && isAbsolute(v) ? v : join(home, fallback);
  };
  return {
    configFile: join(xdg('XDG_CONFIG_HOME', '.config'), 'edgehook', CONFIG_NAME),
    dataDir: join(xdg('XDG_DATA_HOME', '.local/share'), 'edgehook'),
  };
}

export function resolvePaths(opts: ResolvePathsOptions = {}): ResolvedPaths {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const exists = opts.exists ?? existsSync;
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  const mode: PathMode = opts.system || (uid === 0 && exists(SYSTEM_CONFIG_FILE)) ? 'system' : 'user';
  const platform = platformPaths(mode, env);
  const explicitData = nonEmpty(opts.dataDir) ?? nonEmpty(env.EDGEHOOK_DATA_DIR);
  const explicitDataAbs = explicitData === undefined ? undefined : resolve(cwd, explicitData);

  let configFile: string | undefined;
  let configSource: ConfigSource = 'none';
  const flag = nonEmpty(opts.config);
  const fromEnv = nonEmpty(env.EDGEHOOK_CONFIG);
  const local = join(cwd, CONFIG_NAME);
  const saved = join(explicitDataAbs ?? platform.dataDir, CONFIG_NAME);
  if (flag !== undefined) [configFile, configSource] = [resolve(cwd, flag), 'flag'];
  else if (fromEnv !== undefined) [configFile, configSource] = [resolve(cwd, fromEnv), 'env'];
  else if (exists(local)) [configFile, configSource] = [local, 'cwd'];
  else if (exists(platform.configFile)) [configFile, configSource] = [platform.configFile, 'platform'];
  else if (exists(saved)) [configFile, configSource] = [saved, 'data-dir'];

  let dataDirOverride = explicitDataAbs;
  // A file found at the platform location (or none at all) keeps its data in the platform data
  // directory, not in ~/.config/edgehook/edgehook-data, unless the file says otherwise.
  if (dataDirOverride === undefined && (configSource === 'platform' || configSource === 'none')) {
    if (configFile === undefined || !fileSetsDataDir(configFile)) dataDirOverride = platform.dataDir;
  }
  return { mode, configFile, configSource, dataDirOverride, platform };
}

/** Whether a config file has a top-level dataDir key; unreadable or broken files say no (the loader reports them). */
export function fileSetsDataDir(file: string): boolean {
  try {
    const doc = parseDocument(readFileSync(file, 'utf8'));
    return doc.has('dataDir') && doc.get('dataDir') !== null;
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// ---- the running agent's address ------------------------------------------------------

/**
 * `edgehook run` records where its admin server listens in <dataDir>/agent.json, so `edgehook
 * status` finds it even when admin.port is 0 or the agent was started with other flags. No
 * secret goes in it: the token stays in admin-token (0600) or the config.
 */
export const RUNTIME_FILE = 'agent.json';

export interface RuntimeInfo {
  pid: number;
  adminUrl: string;
  startedAt: number;
  /** The admin certificate's SHA-256 fingerprint when it serves HTTPS: `edgehook status` pins it. */
  fingerprint256?: string;
}

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): void {
  const file = join(dataDir, RUNTIME_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

/** Removes the file if it is still this process's (a newer agent may have replaced it). */
export function removeRuntimeInfo(dataDir: string, pid = process.pid): void {
  if (readRuntimeInfo(dataDir, { checkAlive: false })?.pid === pid)
    rmSync(join(dataDir, RUNTIME_FILE), { force: true });
}

/** The recorded address, or undefined when there is none or its process is gone (a crash leaves the file). */
export function readRuntimeInfo(
  dataDir: string,
  opts: { checkAlive?: boolean } = {},
): RuntimeInfo | undefined {
  let info: RuntimeInfo;
  try {
    info = JSON.parse(readFileSync(join(dataDir, RUNTIME_FILE), 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
  if (typeof info?.pid !== 'number' || typeof info.adminUrl !== 'string') return undefined;
  if (opts.checkAlive !== false && !processAlive(info.pid)) return undefined;
  return info;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user (the service's own user).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The config file's directory, for messages that suggest where to look. */
export function describeConfig(paths: ResolvedPaths): string {
  return (
    paths.configFile ??
    `built-in defaults (no ${CONFIG_NAME} in ${dirname(paths.platform.configFile)} or the working directory)`
  );
}
