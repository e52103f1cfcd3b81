import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { loadConfigFile } from '../../src/config/load.js';
import { EdgehookError, ErrorCodes } from '../../src/errors.js';
import { writeStarterConfig } from '../../src/config/starter.js';
import { silentLogger } from '../../src/log.js';
import { APP_USER_MODEL_ID, DesktopApp, STOP_TIMEOUT_MS } from '../../src/electron/desktop-app.js';
import { SESSION_WINDOW_OPTIONS } from '../../src/electron/session-end.js';
import type { DesktopAppDeps } from '../../src/electron/desktop-deps.js';
import { channelFor, DESKTOP_API_METHODS } from '../../src/electron/desktop-api.js';
import { trayIconPng } from '../../src/electron/tray-icons.js';
import {
  createFakeElectron,
  deferred,
  endpoint,
  FakeAgent,
  fakeEvent,
  FakeWebContents,
  makeStatus,
  type FakeElectron,
  type FakeImage,
} from './fakes.js';

const ADMIN = 'http://127.0.0.1:8787';
const PRELOAD = '/app/dist/electron/preload.cjs';

let userData: string;
let running: FakeElectron[] = [];
beforeEach(() => {
  userData = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-userdata-'));
});
afterEach(async () => {
  vi.useRealTimers();
  // Quit what a test left running, so its log file is closed before the folder goes.
  for (const fake of running) {
    if (!fake.app.exited) fake.app.quit();
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
  }
  running = [];
  fs.rmSync(userData, { recursive: true, force: true });
});

interface Setup {
  fake: FakeElectron;
  agent: FakeAgent;
  desktop: DesktopApp;
  configs: Config[];
  configFiles: (string | undefined)[];
  signals: Map<string, () => void>;
  drivers: { file: string; hint: string }[];
}

/** Real config loading and starter writing on a temp userData; a fake agent and fake Electron. */
function setup(
  opts: {
    lock?: boolean;
    packaged?: boolean;
    argv?: string[];
    env?: NodeJS.ProcessEnv;
    electronVersion?: string;
    platform?: NodeJS.Platform;
    trayHost?: boolean | undefined;
    useSqliteDriver?: (file: string, hint: string) => void;
  } = {},
): Setup {
  const fake = createFakeElectron(userData, opts);
  running.push(fake);
  const agent = new FakeAgent();
  const configs: Config[] = [];
  const configFiles: (string | undefined)[] = [];
  const signals = new Map<string, () => void>();
  const drivers: { file: string; hint: string }[] = [];
  const deps: DesktopAppDeps = {
    electron: fake.modules,
    core: {
      loadConfigFile: (file, o) => loadConfigFile(file, { ...o, env: {} }),
      writeStarterConfig,
      createAgent: ({ config, configFile }) => {
        configs.push(config);
        configFiles.push(configFile);
        return agent;
      },
      createLogger: () => silentLogger(),
      useSqliteDriver: (file, hint) => {
        drivers.push({ file, hint });
        opts.useSqliteDriver?.(file, hint);
      },
    },
    runtime: {
      platform: opts.platform ?? 'linux',
      trayHost: async () => ('trayHost' in opts ? opts.trayHost : true),
      argv: opts.argv ?? ['/opt/Edgehook/edgehook'],
      env: opts.env ?? { XDG_CONFIG_HOME: path.join(userData, 'xdg') },
      execPath: '/opt/Edgehook/edgehook',
      electronVersion: opts.electronVersion,
      resourcesPath: '/opt/Edgehook/resources',
      sourceRoot: path.join(userData, 'repo'),
      arch: 'arm64',
      preloadPath: PRELOAD,
      onSignal: (signal, handler) => void signals.set(signal, handler),
    },
  };
  return { fake, agent, desktop: new DesktopApp(deps), configs, configFiles, signals, drivers };
}

async function started(opts: Parameters<typeof setup>[0] = {}): Promise<Setup> {
  const s = setup(opts);
  expect(s.desktop.run()).toBe(true);
  s.fake.app.ready();
  await s.desktop.started;
  return s;
}

describe('the admin UI over HTTPS (a LAN address)', () => {
  const FINGERPRINT = `${'AB:'.repeat(31)}CD`;
  const electronName = `sha256/${Buffer.from(FINGERPRINT.replaceAll(':', ''), 'hex').toString('base64')}`;

  it("trusts exactly the agent's certificate at the admin origin, and nothing else", async () => {
    const s = setup();
    s.agent.adminUrl = 'https://127.0.0.1:8787';
    Object.assign(s.agent, { adminTls: { fingerprint256: FINGERPRINT } });
    expect(s.desktop.run()).toBe(true);
    s.fake.app.ready();
    await s.desktop.started;
    expect(s.fake.windows[0]!.loadURL).toHaveBeenCalledWith(
      'https://127.0.0.1:8787/login?token=desktop-test-token',
    );
    const decide = (url: string, fingerprint: string) => {
      const event = { preventDefault: vi.fn() };
      const callback = vi.fn();
      s.fake.app.emit(
        'certificate-error',
        event,
        {},
        url,
        'net::ERR_CERT_AUTHORITY_INVALID',
        { fingerprint },
        callback,
      );
      return {
        trusted: callback.mock.calls[0]![0] as boolean,
        prevented: event.preventDefault.mock.calls.length > 0,
      };
    };
    expect(decide('https://127.0.0.1:8787/login?token=x', electronName)).toEqual({
      trusted: true,
      prevented: true,
    });
    expect(decide('https://127.0.0.1:8787/', 'sha256/AAAA')).toEqual({ trusted: false, prevented: false });
    expect(decide('https://example.com/', electronName)).toEqual({ trusted: false, prevented: false });
    expect(decide('https://127.0.0.1:9999/', electronName)).toEqual({ trusted: false, prevented: false });
  });
});

describe('start-up', () => {
  it('writes the starter config into userData on first run and runs the agent on it, data in userData/data', async () => {
    const { configs, configFiles, agent } = await started();
    expect(fs.readFileSync(path.join(userData, 'edgehook.yaml'), 'utf8')).toMatch(
      /^# edgehook configuration/,
    );
    expect(configs).toHaveLength(1);
    expect(configs[0]!.dataDir).toBe(path.join(userData, 'data'));
    // UI edits are written back to the same file the app started from.
    expect(configFiles[0]).toBe(path.join(userData, 'edgehook.yaml'));
    expect(agent.start).toHaveBeenCalledTimes(1);
  });

  it('keeps an existing config and runs the admin server even when the file disables it', async () => {
    fs.writeFileSync(path.join(userData, 'edgehook.yaml'), 'agentId: kiosk\nadmin:\n  enabled: false\n');
    const { configs } = await started();
    expect(configs[0]!.agentId).toBe('kiosk');
    expect(configs[0]!.admin.enabled).toBe(true);
    expect(fs.readFileSync(path.join(userData, 'edgehook.yaml'), 'utf8')).toContain('agentId: kiosk');
  });

  it('opens one hardened window on the login URL, signed in by the main process', async () => {
    const { fake, agent } = await started();
    expect(fake.windows).toHaveLength(1);
    const win = fake.windows[0]!;
    expect(win.options.webPreferences).toMatchObject({
      preload: PRELOAD,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
    });
    expect(win.loadURL).toHaveBeenCalledWith(agent.loginUrl);
    expect(fake.app.enableSandbox).toHaveBeenCalledTimes(1);
    win.emit('ready-to-show');
    expect(win.show).toHaveBeenCalled();
  });

  it('applies the CSP to the session and registers every IPC channel of the contract', async () => {
    const { fake } = await started();
    const { responseHeaders } = await fake.headersFor({ 'content-type': ['text/html'] });
    expect(responseHeaders['Content-Security-Policy']?.[0]).toMatch(/script-src 'self'/);
    expect(fake.channels().sort()).toEqual(DESKTOP_API_METHODS.map(channelFor).sort());
  });

  it('stays in the tray when launched at login (--hidden), and opens the window from the tray', async () => {
    const { fake } = await started({ argv: ['/opt/Edgehook/edgehook', '--hidden'] });
    expect(fake.windows).toHaveLength(0);
    expect(fake.trays).toHaveLength(1);
    fake.trays[0]!.click('open');
    expect(fake.windows).toHaveLength(1);
  });

  it('reports an invalid config with every problem and the file, then quits without an agent', async () => {
    fs.writeFileSync(path.join(userData, 'edgehook.yaml'), 'mqtt:\n  protocolVersion: 7\nbogus: 1\n');
    const { fake, configs } = await started();
    expect(configs).toHaveLength(0);
    const options = fake.dialog.showMessageBox.mock.calls[0]![0] as { detail: string; buttons: string[] };
    expect(options.detail).toMatch(/mqtt\.protocolVersion/);
    expect(options.detail).toMatch(/bogus/);
    expect(options.detail).toContain(path.join(userData, 'edgehook.yaml'));
    expect(options.buttons).toEqual(['Open configuration', 'Quit']);
    expect(fake.app.exited).toBe(true);
  });

  it('opens the config file when the user asks from the error dialog', async () => {
    fs.writeFileSync(path.join(userData, 'edgehook.yaml'), 'bogus: 1\n');
    const s = setup();
    s.fake.dialog.showMessageBox.mockResolvedValueOnce({ response: 0, checkboxChecked: false });
    s.desktop.run();
    s.fake.app.ready();
    await s.desktop.started;
    expect(s.fake.shell.openPath).toHaveBeenCalledWith(path.join(userData, 'edgehook.yaml'));
    expect(s.fake.app.exited).toBe(true);
  });
});

describe('the SQLite driver (docs/desktop.md, "The SQLite driver")', () => {
  it('under Electron, a packaged app loads the driver from its resources, before the agent opens the outbox', async () => {
    const { drivers, configs } = await started({ packaged: true, electronVersion: '45.4.1' });
    expect(drivers).toEqual([
      {
        file: '/opt/Edgehook/resources/native/better_sqlite3.node',
        hint: expect.stringMatching(/reinstall/),
      },
    ]);
    expect(configs).toHaveLength(1);
  });

  it('from the repository (`npm run desktop`), it loads native/electron/<os>-<arch> and says how to build it', async () => {
    const { drivers } = await started({ electronVersion: '45.4.1' });
    expect(drivers).toEqual([
      {
        file: path.join(userData, 'repo', 'native', 'electron', 'linux-arm64', 'better_sqlite3.node'),
        hint: expect.stringContaining('node build/electron-driver.mjs --arch arm64'),
      },
    ]);
  });

  it('under plain Node keeps the default driver', async () => {
    const { drivers, configs } = await started();
    expect(drivers).toEqual([]);
    expect(configs).toHaveLength(1);
  });

  it('a driver that cannot load stops start-up with a dialog saying what to do, and no agent', async () => {
    const { fake, configs } = await started({
      packaged: true,
      electronVersion: '45.4.1',
      useSqliteDriver: (file, hint) => {
        throw new EdgehookError(ErrorCodes.SQLITE_DRIVER, `the SQLite driver ${file} is missing`, {
          details: [hint],
        });
      },
    });
    expect(configs).toHaveLength(0);
    const options = fake.dialog.showMessageBox.mock.calls[0]![0] as { detail: string };
    expect(options.detail).toMatch(/better_sqlite3\.node is missing\n.*reinstall Edgehook/);
    expect(fake.app.exited).toBe(true);
  });
});

describe('logout, shutdown and desktops without a tray', () => {
  it('Windows: names the app for notifications, and a hidden window stops the agent when the session ends', async () => {
    const { fake, agent } = await started({ platform: 'win32', argv: ['Edgehook.exe', '--hidden'] });
    const builderYml = fs.readFileSync(new URL('../../electron-builder.yml', import.meta.url), 'utf8');
    expect(builderYml).toMatch(new RegExp(`^appId: ${APP_USER_MODEL_ID.replace(/\./g, '\\.')}$`, 'm'));
    expect(fake.app.setAppUserModelId).toHaveBeenCalledWith(APP_USER_MODEL_ID);
    expect(fake.windows).toHaveLength(1);
    const listener = fake.windows[0]!;
    expect(listener.options).toEqual(SESSION_WINDOW_OPTIONS);
    expect(listener.loadURL).not.toHaveBeenCalled();
    const event = fakeEvent();
    listener.emit('query-session-end', event);
    expect(event.defaultPrevented).toBe(true);
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
    expect(agent.stop).toHaveBeenCalledTimes(1);
  });

  it('Linux and macOS: a system shutdown is delayed while the agent stops', async () => {
    const { fake, agent } = await started();
    expect(fake.app.setAppUserModelId).not.toHaveBeenCalled();
    const event = fakeEvent();
    fake.powerMonitor.emit('shutdown', event);
    expect(event.defaultPrevented).toBe(true);
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
    expect(agent.stop).toHaveBeenCalledTimes(1);
  });

  async function closeWindow(trayHost: boolean | undefined, response: number) {
    const s = await started({ trayHost });
    s.fake.dialog.showMessageBox.mockResolvedValueOnce({ response, checkboxChecked: false });
    const event = fakeEvent();
    s.fake.windows[0]!.emit('close', event);
    return { ...s, event };
  }

  it('with no tray icon host, closing the window asks, and Quit stops the agent', async () => {
    const { fake, agent, event } = await closeWindow(false, 0);
    expect(event.defaultPrevented).toBe(true);
    const options = fake.dialog.showMessageBox.mock.calls[0]![0] as { message: string; buttons: string[] };
    expect(options.message).toBe('Quit Edgehook?');
    expect(options.buttons).toEqual(['Quit Edgehook', 'Keep the window open']);
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
    expect(agent.stop).toHaveBeenCalledTimes(1);
  });

  it('with no tray icon host, "Keep the window open" keeps it and the agent', async () => {
    const { fake, agent, event } = await closeWindow(false, 1);
    expect(event.defaultPrevented).toBe(true);
    await vi.waitFor(() => expect(fake.dialog.showMessageBox).toHaveBeenCalledTimes(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.app.exited).toBe(false);
    expect(agent.stop).not.toHaveBeenCalled();
  });

  it.each([
    [true, 'a tray icon host'],
    [undefined, 'no way to tell'],
  ])('with %s (%s), closing the window leaves the agent in the tray without asking', async (host, _what) => {
    const { fake, event } = await closeWindow(host, 0);
    expect(event.defaultPrevented).toBe(false);
    expect(fake.dialog.showMessageBox).not.toHaveBeenCalled();
  });
});

describe('single instance', () => {
  it('a second instance does not start an agent: it quits and lets the first one show itself', () => {
    const { desktop, fake, configs } = setup({ lock: false });
    expect(desktop.run()).toBe(false);
    expect(fake.app.quit).toHaveBeenCalledTimes(1);
    expect(fake.app.whenReady).not.toHaveBeenCalled();
    expect(fake.app.listenerCount('second-instance')).toBe(0);
    expect(configs).toHaveLength(0);
  });

  it('the first instance focuses its window when a second one starts, restoring it if minimized', async () => {
    const { fake } = await started();
    const win = fake.windows[0]!;
    win.minimized = true;
    fake.app.emit('second-instance', {}, ['/opt/Edgehook/edgehook'], userData);
    expect(win.restore).toHaveBeenCalledTimes(1);
    expect(win.focus).toHaveBeenCalledTimes(1);
    expect(fake.windows).toHaveLength(1);
  });

  it('opens a new window for a second instance when the first window was closed', async () => {
    const { fake } = await started();
    fake.windows[0]!.close();
    fake.app.emit('window-all-closed');
    fake.app.emit('second-instance', {}, [], userData);
    expect(fake.windows).toHaveLength(2);
  });

  it('a second instance during start-up gets the window once the agent is up', async () => {
    const s = setup({ argv: ['/opt/Edgehook/edgehook', '--hidden'] });
    s.desktop.run();
    s.fake.app.emit('second-instance', {}, [], userData);
    expect(s.fake.windows).toHaveLength(0);
    s.fake.app.ready();
    await s.desktop.started;
    expect(s.fake.windows).toHaveLength(1);
  });
});

describe('quit', () => {
  it('closing the window keeps the agent running', async () => {
    const { fake, agent } = await started();
    fake.windows[0]!.close();
    fake.app.emit('window-all-closed');
    expect(agent.stop).not.toHaveBeenCalled();
    expect(fake.app.quit).not.toHaveBeenCalled();
  });

  it('Quit stops the agent first and only then lets the app exit', async () => {
    const { fake, agent } = await started();
    const gate = deferred();
    agent.stopGate = gate.promise;
    fake.trays[0]!.click('quit');
    expect(fake.app.exited).toBe(false);
    await vi.waitFor(() => expect(agent.stop).toHaveBeenCalledTimes(1));
    expect(fake.trays[0]!.destroy).toHaveBeenCalled();
    // A second Quit while stopping neither stops twice nor exits early.
    fake.app.quit();
    expect(fake.app.exited).toBe(false);
    gate.resolve();
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
    expect(agent.stopped).toBe(true);
    expect(agent.stop).toHaveBeenCalledTimes(1);
  });

  it('leaves anyway when the agent does not stop in time', async () => {
    const { fake, agent } = await started();
    agent.stopGate = new Promise(() => undefined);
    vi.useFakeTimers();
    fake.app.quit();
    await vi.advanceTimersByTimeAsync(STOP_TIMEOUT_MS - 1);
    expect(fake.app.exited).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    vi.useRealTimers();
    // What is left is closing the log file: real I/O.
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
  });

  it('SIGTERM (logout, shutdown) quits through the same clean path', async () => {
    const { fake, agent, signals } = await started();
    signals.get('SIGTERM')!();
    await vi.waitFor(() => expect(fake.app.exited).toBe(true));
    expect(agent.stop).toHaveBeenCalledTimes(1);
  });
});

describe('tray, notifications and desktop actions', () => {
  it('the tray follows the agent and a failing endpoint raises a notification that opens the window', async () => {
    const { fake, agent, desktop } = await started({ argv: ['x', '--hidden'] });
    const tray = fake.trays[0]!;
    expect((tray.image as FakeImage).buffer).toEqual(trayIconPng('connected', 1));
    expect((tray.image as FakeImage).representations[0]).toEqual({
      scaleFactor: 2,
      buffer: trayIconPng('connected', 2),
    });
    agent.statusValue = makeStatus({
      endpoints: [endpoint('cloud', { state: 'disabled', lastError: 'HTTP 410 Gone: endpoint disabled' })],
    });
    desktop.trayController!.refresh();
    expect((tray.image as FakeImage).buffer).toEqual(trayIconPng('failing', 1));
    expect(fake.notifications.map((n) => n.title)).toEqual(['Endpoint "cloud" was disabled']);
    fake.notifications[0]!.clicked();
    expect(fake.windows).toHaveLength(1);
  });

  it('setStartAtLogin from the admin UI is saved, applied (packaged, Linux) and reflected in the tray', async () => {
    const { fake } = await started({ packaged: true });
    const autostart = path.join(userData, 'xdg', 'autostart', 'edgehook.desktop');
    expect(fs.existsSync(autostart)).toBe(true); // on by default
    expect(await fake.invoke('edgehook:setStartAtLogin', `${ADMIN}/settings`, false)).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(userData, 'desktop-settings.json'), 'utf8'))).toEqual({
      startAtLogin: false,
    });
    expect(fs.existsSync(autostart)).toBe(false);
    expect(fake.trays[0]!.item('login').checked).toBe(false);
  });

  it('does not register a login item in development, where the executable is bare Electron', async () => {
    const { fake } = await started({ packaged: false });
    expect(fs.existsSync(path.join(userData, 'xdg', 'autostart'))).toBe(false);
    expect(fake.app.setLoginItemSettings).not.toHaveBeenCalled();
  });

  it('refuses IPC from a frame that is not the admin UI', async () => {
    const { fake } = await started();
    await expect(fake.invoke('edgehook:openDataFolder', 'https://evil.example/')).rejects.toThrow(/refused/);
    expect(fake.shell.openPath).not.toHaveBeenCalled();
    await fake.invoke('edgehook:openDataFolder', `${ADMIN}/`);
    expect(fake.shell.openPath).toHaveBeenCalledWith(path.join(userData, 'data'));
  });

  it('info() tells the UI where things are', async () => {
    const { fake } = await started();
    expect(await fake.invoke('edgehook:info', `${ADMIN}/`)).toEqual({
      version: '9.8.7',
      platform: 'linux',
      configFile: path.join(userData, 'edgehook.yaml'),
      dataDir: path.join(userData, 'data'),
      logFile: path.join(userData, 'logs', 'edgehook.log'),
      startAtLogin: true,
      packaged: false,
    });
  });

  it('hardens every web contents Electron creates', async () => {
    const { fake } = await started();
    const contents = new FakeWebContents();
    fake.app.emit('web-contents-created', {}, contents);
    expect(contents.attempt('will-navigate', 'https://evil.example/')).toBe(true);
    expect(fake.shell.openExternal).toHaveBeenCalledWith('https://evil.example/');
    expect(contents.attempt('will-navigate', `${ADMIN}/events`)).toBe(false);
  });
});
