import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The desktop app's own settings, a small JSON file in userData. Reading never fails: a missing
 * or damaged file means the defaults (a settings file must not keep the agent from starting),
 * and the caller is told so it can log it.
 */

export interface DesktopSettings {
  /**
   * On by default: on a gateway the agent is only useful while it runs, and an embedded broker
   * holds nothing while it is down. One click in the tray turns it off.
   */
  startAtLogin: boolean;
}

export const DEFAULT_SETTINGS: Readonly<DesktopSettings> = Object.freeze({ startAtLogin: true });

export interface ReadSettingsResult {
  settings: DesktopSettings;
  /** Why the defaults were used, when the file existed but could not be used. */
  problem?: string;
}

export function readSettings(file: string): ReadSettingsResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...DEFAULT_SETTINGS } };
    return { settings: { ...DEFAULT_SETTINGS }, problem: `cannot read ${file}: ${(err as Error).message}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return {
      settings: { ...DEFAULT_SETTINGS },
      problem: `${file} is not valid JSON (${(err as Error).message}); using defaults`,
    };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { settings: { ...DEFAULT_SETTINGS }, problem: `${file} does not hold an object; using defaults` };
  }
  const startAtLogin = (data as Record<string, unknown>).startAtLogin;
  if (startAtLogin !== undefined && typeof startAtLogin !== 'boolean') {
    return {
      settings: { ...DEFAULT_SETTINGS },
      problem: `${file}: startAtLogin must be true or false; using the default`,
    };
  }
  return { settings: { startAtLogin: startAtLogin ?? DEFAULT_SETTINGS.startAtLogin } };
}

/** Temp file + rename, so a crash leaves the old settings or the new ones, never half a file. */
export function writeSettings(file: string, settings: DesktopSettings): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(settings, null, 2)}\n`);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
