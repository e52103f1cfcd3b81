import { describe, expect, it, vi } from 'vitest';
import { channelFor, DESKTOP_API_METHODS, type DesktopHandlers } from '../../src/electron/desktop-api.js';
import { registerDesktopApi } from '../../src/electron/desktop-ipc.js';

const ADMIN = 'http://127.0.0.1:8787';

function setup() {
  const registered = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  const ipcMain = {
    handle: vi.fn(
      (channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) =>
        void registered.set(channel, fn),
    ),
    removeHandler: vi.fn((channel: string) => void registered.delete(channel)),
  };
  const handlers: DesktopHandlers = {
    info: vi.fn(() => ({
      version: '1',
      platform: 'linux',
      configFile: '/c',
      dataDir: '/d',
      logFile: '/l',
      startAtLogin: true,
      packaged: true,
    })),
    openDataFolder: vi.fn(async () => undefined),
    openConfigFile: vi.fn(async () => undefined),
    openLogFile: vi.fn(async () => undefined),
    setStartAtLogin: vi.fn((enabled: boolean) => enabled),
  };
  const unregister = registerDesktopApi(
    ipcMain as never,
    handlers,
    (url) => url?.startsWith(`${ADMIN}/`) === true,
  );
  const call = async (method: string, frameUrl: string | undefined, ...args: unknown[]) =>
    registered.get(`edgehook:${method}`)!(
      { senderFrame: frameUrl === undefined ? null : { url: frameUrl } },
      ...args,
    );
  return { registered, handlers, unregister, call };
}

describe('registerDesktopApi', () => {
  it('handles exactly the channels of the contract', () => {
    const { registered } = setup();
    expect([...registered.keys()].sort()).toEqual(DESKTOP_API_METHODS.map(channelFor).sort());
  });

  it('answers the admin UI', async () => {
    const { call, handlers } = setup();
    expect(await call('info', `${ADMIN}/settings`)).toMatchObject({ dataDir: '/d', startAtLogin: true });
    expect(await call('setStartAtLogin', `${ADMIN}/`, false)).toBe(false);
    expect(handlers.setStartAtLogin).toHaveBeenCalledWith(false);
  });

  it('refuses a frame of another origin, or one that is gone', async () => {
    const { call, handlers } = setup();
    await expect(call('openDataFolder', 'https://evil.example/')).rejects.toThrow(/refused/);
    await expect(call('openDataFolder', undefined)).rejects.toThrow(/refused/);
    expect(handlers.openDataFolder).not.toHaveBeenCalled();
  });

  it.each([['yes'], [1], [null], [undefined], [{ valueOf: (): boolean => true }]])(
    'refuses setStartAtLogin(%j): only a boolean',
    async (value) => {
      const { call, handlers } = setup();
      await expect(call('setStartAtLogin', `${ADMIN}/`, value)).rejects.toThrow(TypeError);
      expect(handlers.setStartAtLogin).not.toHaveBeenCalled();
    },
  );

  it('drops arguments a method does not take', async () => {
    const { call, handlers } = setup();
    await call('openLogFile', `${ADMIN}/`, '/etc/shadow');
    expect(handlers.openLogFile).toHaveBeenCalledWith();
  });

  it('removes its handlers again', () => {
    const { registered, unregister } = setup();
    unregister();
    expect(registered.size).toBe(0);
  });
});
