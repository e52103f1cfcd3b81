/**
 * The one contract between the admin UI and the desktop shell (typed IPC, never a generic
 * `send(channel, ...any)` bridge; docs/desktop.md "How it is built"). The preload exposes exactly
 * these functions as `window.edgehookDesktop`; the main process handles exactly these channels and
 * checks every argument again, because a renderer is never trusted.
 *
 * The UI treats the object as optional: in a plain browser (the headless agent) it is
 * undefined, and the UI hides the desktop-only actions. A renderer may `import type` this file;
 * it holds no Node code.
 */

export interface DesktopInfo {
  version: string;
  /** process.platform of the desktop: "linux", "darwin", "win32". */
  platform: string;
  configFile: string;
  dataDir: string;
  logFile: string;
  startAtLogin: boolean;
  /** False in development (`npm run desktop`): start-at-login is then stored but not applied. */
  packaged: boolean;
}

export interface DesktopApi {
  info(): Promise<DesktopInfo>;
  /** Opens the folder holding the SQLite outbox in the system file manager. */
  openDataFolder(): Promise<void>;
  /** Opens edgehook.yaml in the system's editor for YAML files. */
  openConfigFile(): Promise<void>;
  openLogFile(): Promise<void>;
  /** Resolves to the setting now in force. */
  setStartAtLogin(enabled: boolean): Promise<boolean>;
}

export type DesktopMethod = keyof DesktopApi;

/** The global name the preload exposes the API under. */
export const DESKTOP_API_KEY = 'edgehookDesktop';

export const DESKTOP_API_METHODS = [
  'info',
  'openDataFolder',
  'openConfigFile',
  'openLogFile',
  'setStartAtLogin',
] as const satisfies readonly DesktopMethod[];

// Fails to compile when a method is added to DesktopApi but not to the list above, so the main
// process cannot forget to handle one.
type Unlisted = Exclude<DesktopMethod, (typeof DESKTOP_API_METHODS)[number]>;
export const DESKTOP_API_COMPLETE: [Unlisted] extends [never] ? true : Unlisted = true;

/** The IPC channel of a method. The preload repeats this rule (it cannot import us at run time). */
export function channelFor(method: DesktopMethod): `edgehook:${DesktopMethod}` {
  return `edgehook:${method}`;
}

/** What the main process implements: the same signatures, answering with plain values or promises. */
export type DesktopHandlers = {
  [K in DesktopMethod]: (
    ...args: Parameters<DesktopApi[K]>
  ) => ReturnType<DesktopApi[K]> | Awaited<ReturnType<DesktopApi[K]>>;
};
