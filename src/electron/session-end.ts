import type { BrowserWindowConstructorOptions } from 'electron';

/**
 * A logout or shutdown stops the agent cleanly, as Quit does (docs/desktop.md, "Quit, logout
 * and shutdown"). Electron's `before-quit` is not emitted then on Windows, and SIGTERM is not
 * what every desktop sends, so the shell listens where each system tells:
 *
 * - Linux and macOS: powerMonitor's `shutdown`. preventDefault() asks the system to wait while
 *   the app quits (systemd-logind inhibitor on Linux).
 * - Windows: a window's `query-session-end` (preventDefault() delays the end while the agent
 *   stops) and `session-end` (too late to delay: quit at once). Only windows receive these, and
 *   the app often has none open (it lives in the tray), so a hidden, empty one listens.
 *
 * Nothing is lost if the system ends the process before the stop completes: every event is
 * committed before it is acked, and the broker redelivers what was not acked.
 */

export interface Preventable {
  preventDefault(): void;
}

export interface SessionEndDeps {
  platform: NodeJS.Platform;
  powerMonitor: { on(event: 'shutdown', listener: (event?: Preventable) => void): unknown };
  createWindow(options: BrowserWindowConstructorOptions): {
    on(event: 'query-session-end' | 'session-end', listener: (event: Preventable) => void): unknown;
  };
  quit(reason: string): void;
}

/** Options of the Windows listener window: never shown, no page, no taskbar button. */
export const SESSION_WINDOW_OPTIONS: BrowserWindowConstructorOptions = {
  show: false,
  width: 1,
  height: 1,
  skipTaskbar: true,
  focusable: false,
  webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false },
};

export function watchSessionEnd(deps: SessionEndDeps): void {
  if (deps.platform === 'win32') {
    const win = deps.createWindow(SESSION_WINDOW_OPTIONS);
    win.on('query-session-end', (event) => {
      event.preventDefault();
      deps.quit('query-session-end');
    });
    win.on('session-end', () => deps.quit('session-end'));
    return;
  }
  deps.powerMonitor.on('shutdown', (event) => {
    event?.preventDefault();
    deps.quit('shutdown');
  });
}
