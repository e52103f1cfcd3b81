import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import { channelFor, DESKTOP_API_METHODS, type DesktopHandlers, type DesktopMethod } from './desktop-api.js';

/**
 * The main-process side of desktop-api.ts. Each channel checks who is calling (only a frame
 * showing the admin origin; Electron security checklist #17, "validate the sender of all IPC
 * messages") and what it passed, before the handler runs.
 */

/** Turns the renderer's arguments into the declared ones, or throws: a renderer is not trusted. */
const ARGUMENTS: { [K in DesktopMethod]: (args: unknown[]) => Parameters<DesktopHandlers[K]> } = {
  info: () => [],
  openDataFolder: () => [],
  openConfigFile: () => [],
  openLogFile: () => [],
  setStartAtLogin: (args) => {
    if (typeof args[0] !== 'boolean') throw new TypeError('setStartAtLogin expects true or false');
    return [args[0]];
  },
};

export type IpcMainLike = Pick<IpcMain, 'handle' | 'removeHandler'>;

/** Registers one handler per contract method; the returned function removes them again. */
export function registerDesktopApi(
  ipcMain: IpcMainLike,
  handlers: DesktopHandlers,
  isTrustedSender: (frameUrl: string | undefined) => boolean,
): () => void {
  for (const method of DESKTOP_API_METHODS) {
    ipcMain.handle(channelFor(method), (event: IpcMainInvokeEvent, ...args: unknown[]) => {
      if (!isTrustedSender(event.senderFrame?.url))
        throw new Error(`${method} refused: the caller is not the Edgehook admin UI`);
      const checked = ARGUMENTS[method](args);
      // The method and its checked arguments belong together; TypeScript cannot follow the
      // correlation through the loop, hence the widening.
      return (handlers[method] as (...a: unknown[]) => unknown)(...checked);
    });
  }
  return () => {
    for (const method of DESKTOP_API_METHODS) ipcMain.removeHandler(channelFor(method));
  };
}
