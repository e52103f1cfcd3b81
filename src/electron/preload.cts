/**
 * Runs in the admin UI's renderer before the page, with `sandbox: true`. A sandboxed preload
 * must be CommonJS and may require only 'electron' (plus a few polyfills), never our own
 * files; hence the .cts extension (tsc emits preload.cjs) and the channel rule repeated here
 * instead of imported. The types still come from the one contract (type imports vanish when
 * compiled), and test/electron/preload.test.ts runs the compiled file to check that names and
 * channels agree with desktop-api.ts.
 *
 * The page gets a frozen object of named functions; it never sees ipcRenderer itself
 * (Electron security checklist: "do not expose Electron APIs to untrusted web content").
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { DesktopApi, DesktopInfo, DesktopMethod } from './desktop-api.js';

function invoke<T>(method: DesktopMethod, ...args: unknown[]): Promise<T> {
  return ipcRenderer.invoke(`edgehook:${method}`, ...args) as Promise<T>;
}

const api: DesktopApi = {
  info: () => invoke<DesktopInfo>('info'),
  openDataFolder: () => invoke<void>('openDataFolder'),
  openConfigFile: () => invoke<void>('openConfigFile'),
  openLogFile: () => invoke<void>('openLogFile'),
  // Only a real boolean crosses; the main process checks again.
  setStartAtLogin: (enabled: boolean) => invoke<boolean>('setStartAtLogin', enabled === true),
};

contextBridge.exposeInMainWorld('edgehookDesktop', Object.freeze(api));
