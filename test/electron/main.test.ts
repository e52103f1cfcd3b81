import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * main.ts is the only file that imports 'electron' at run time. Importing it outside Electron
 * throws (docs/development.md "System packages"), so 'electron' is mocked at the module edge and
 * the test checks the wiring: the real modules reach DesktopApp, which runs at once.
 */

const electron = vi.hoisted(() => {
  const listeners = new Map<string, unknown>();
  return {
    listeners,
    lock: true,
    app: {
      requestSingleInstanceLock: () => electron.lock,
      quit: vi.fn(),
      enableSandbox: vi.fn(),
      on: vi.fn((event: string, listener: unknown) => {
        listeners.set(event, listener);
        return electron.app;
      }),
      // Never ready: the test looks at what happens before Electron's 'ready'.
      whenReady: vi.fn(() => new Promise<void>(() => undefined)),
      isPackaged: false,
    },
  };
});

vi.mock('electron', () => ({
  app: electron.app,
  BrowserWindow: vi.fn(),
  dialog: {},
  ipcMain: {},
  Menu: {},
  nativeImage: {},
  Notification: vi.fn(),
  powerMonitor: {},
  session: {},
  shell: {},
  Tray: vi.fn(),
}));

let signalListeners: Map<string, NodeJS.SignalsListener[]>;

beforeEach(() => {
  vi.resetModules();
  electron.listeners.clear();
  vi.clearAllMocks();
  signalListeners = new Map(['SIGINT', 'SIGTERM'].map((s) => [s, process.listeners(s as NodeJS.Signals)]));
});

afterEach(() => {
  // main.ts registered its quit-on-signal handlers on this worker process: take them off again.
  for (const [signal, before] of signalListeners) {
    for (const l of process.listeners(signal as NodeJS.Signals))
      if (!before.includes(l)) process.off(signal, l as () => void);
  }
});

describe('main.ts', () => {
  it('quits at once when another instance holds the lock', async () => {
    electron.lock = false;
    await import('../../src/electron/main.js');
    expect(electron.app.quit).toHaveBeenCalledTimes(1);
    expect(electron.app.whenReady).not.toHaveBeenCalled();
    expect(electron.app.enableSandbox).not.toHaveBeenCalled();
  });

  it('as the first instance, sandboxes every renderer and wires the app events before ready', async () => {
    electron.lock = true;
    await import('../../src/electron/main.js');
    expect(electron.app.quit).not.toHaveBeenCalled();
    expect(electron.app.enableSandbox).toHaveBeenCalledTimes(1);
    expect([...electron.listeners.keys()].sort()).toEqual([
      'activate',
      'before-quit',
      'certificate-error',
      'second-instance',
      'web-contents-created',
      'window-all-closed',
    ]);
    expect(electron.app.whenReady).toHaveBeenCalledTimes(1);
    expect(process.listeners('SIGTERM').length).toBe(signalListeners.get('SIGTERM')!.length + 1);
  });
});
