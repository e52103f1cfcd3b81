import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDesktopLog, rotateIfLarge } from '../../src/electron/desktop-log.js';
import { desktopPaths } from '../../src/electron/desktop-paths.js';
import { DEFAULT_SETTINGS, readSettings, writeSettings } from '../../src/electron/desktop-settings.js';
import {
  applyStartAtLogin,
  autostartEntry,
  launchAgentFile,
  launchAgentPlist,
  autostartFile,
  HIDDEN_ARG,
  launchedHidden,
  quoteExecArg,
  type LoginItemDeps,
} from '../../src/electron/login-item.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-desktop-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('desktopPaths', () => {
  it('keeps config, data and settings under userData, the log under logs', () => {
    expect(desktopPaths('/u/Edgehook', '/u/Edgehook/logs')).toEqual({
      userData: '/u/Edgehook',
      configFile: path.join('/u/Edgehook', 'edgehook.yaml'),
      dataDir: path.join('/u/Edgehook', 'data'),
      settingsFile: path.join('/u/Edgehook', 'desktop-settings.json'),
      logFile: path.join('/u/Edgehook/logs', 'edgehook.log'),
    });
  });
});

describe('desktop settings', () => {
  it('defaults when the file is missing, without calling it a problem', () => {
    expect(readSettings(path.join(dir, 'none.json'))).toEqual({ settings: { ...DEFAULT_SETTINGS } });
  });

  it('round-trips what was written', () => {
    const file = path.join(dir, 'sub', 'settings.json');
    writeSettings(file, { startAtLogin: false });
    expect(readSettings(file)).toEqual({ settings: { startAtLogin: false } });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['settings.json']);
  });

  it.each([
    ['{not json', /not valid JSON/],
    ['[true]', /does not hold an object/],
    ['{"startAtLogin":"yes"}', /must be true or false/],
  ])('uses the defaults and says why for %s', (text, why) => {
    const file = path.join(dir, 'settings.json');
    fs.writeFileSync(file, text);
    const result = readSettings(file);
    expect(result.settings).toEqual(DEFAULT_SETTINGS);
    expect(result.problem).toMatch(why);
  });
});

describe('start at login', () => {
  function deps(platform: NodeJS.Platform, over: Partial<LoginItemDeps> = {}): LoginItemDeps {
    return {
      platform,
      app: { setLoginItemSettings: vi.fn() },
      execPath: '/opt/Edgehook/edgehook',
      appImage: undefined,
      configHome: path.join(dir, 'config'),
      home: path.join(dir, 'home'),
      ...over,
    };
  }

  it('macOS: a LaunchAgent starts the app with --hidden, and the old login item is removed', () => {
    const exe = '/Applications/Edge & Hook.app/Contents/MacOS/Edgehook';
    const d = deps('darwin', { execPath: exe });
    applyStartAtLogin(true, d);
    const file = path.join(dir, 'home', 'Library', 'LaunchAgents', 'org.edgehook.desktop.plist');
    expect(launchAgentFile(d.home)).toBe(file);
    const plist = fs.readFileSync(file, 'utf8');
    expect(plist).toContain('<key>Label</key><string>org.edgehook.desktop</string>');
    expect(plist).toContain(
      '<array><string>/Applications/Edge &#38; Hook.app/Contents/MacOS/Edgehook</string><string>--hidden</string></array>',
    );
    expect(plist).toContain('<key>RunAtLoad</key><true/>');
    expect(d.app.setLoginItemSettings).toHaveBeenCalledWith({ openAtLogin: false });
    expect(fs.existsSync(autostartFile(d.configHome))).toBe(false);
    applyStartAtLogin(false, d);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('the LaunchAgent label is the appId of electron-builder.yml', () => {
    const yml = fs.readFileSync(new URL('../../electron-builder.yml', import.meta.url), 'utf8');
    expect(yml).toMatch(/^appId: org\.edgehook\.desktop$/m);
    expect(launchAgentPlist('/x')).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist/);
  });

  it('passes path and --hidden on Windows, also when turning it off', () => {
    const d = deps('win32', { execPath: 'C:\\Program Files\\Edgehook\\Edgehook.exe' });
    applyStartAtLogin(false, d);
    expect(d.app.setLoginItemSettings).toHaveBeenCalledWith({
      openAtLogin: false,
      path: 'C:\\Program Files\\Edgehook\\Edgehook.exe',
      args: [HIDDEN_ARG],
    });
  });

  it('writes and removes an XDG autostart entry on Linux', () => {
    const d = deps('linux');
    applyStartAtLogin(true, d);
    const file = path.join(dir, 'config', 'autostart', 'edgehook.desktop');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('[Desktop Entry]\nType=Application\n');
    expect(text).toContain('Exec=/opt/Edgehook/edgehook --hidden\n');
    expect(d.app.setLoginItemSettings).not.toHaveBeenCalled();
    applyStartAtLogin(false, d);
    expect(fs.existsSync(file)).toBe(false);
    applyStartAtLogin(false, d); // already off: no error
  });

  it('starts the AppImage file, not its temporary mount', () => {
    const d = deps('linux', {
      execPath: '/tmp/.mount_EdgehoXYZ/edgehook',
      appImage: '/home/pi/Apps/Edgehook 1.0.AppImage',
    });
    applyStartAtLogin(true, d);
    expect(fs.readFileSync(autostartFile(d.configHome), 'utf8')).toContain(
      'Exec="/home/pi/Apps/Edgehook 1.0.AppImage" --hidden\n',
    );
  });

  it.each([
    ['/opt/Edgehook/edgehook', '/opt/Edgehook/edgehook'],
    ['/a b/c', '"/a b/c"'],
    ['/a"b', '"/a\\\\"b"'],
    ['/50%/x', '"/50%%/x"'],
    ['/$HOME/x', '"/\\\\$HOME/x"'],
  ])('quotes the Exec argument %s as %s', (arg, quoted) => {
    expect(quoteExecArg(arg)).toBe(quoted);
  });

  it('knows a launch at login: --hidden, or wasOpenedAtLogin on macOS only', () => {
    expect(launchedHidden(['/opt/edgehook', HIDDEN_ARG], 'linux', () => false)).toBe(true);
    expect(launchedHidden(['/opt/edgehook'], 'linux', () => true)).toBe(false);
    expect(launchedHidden(['/Applications/Edgehook.app'], 'darwin', () => true)).toBe(true);
    expect(launchedHidden(['/Applications/Edgehook.app'], 'darwin', () => false)).toBe(false);
  });

  it('writes a desktop entry with the keys autostart needs', () => {
    const lines = autostartEntry('/usr/bin/edgehook').split('\n');
    expect(lines).toEqual(
      expect.arrayContaining(['Name=Edgehook', 'Terminal=false', 'X-GNOME-Autostart-enabled=true']),
    );
  });
});

describe('desktop log', () => {
  it('appends log lines to the file', async () => {
    const file = path.join(dir, 'logs', 'edgehook.log');
    const log = openDesktopLog(file, { alsoStdout: false });
    log.stream.write('{"msg":"one"}\n');
    await log.close();
    const again = openDesktopLog(file, { alsoStdout: false });
    again.stream.write('{"msg":"two"}\n');
    await again.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('{"msg":"one"}\n{"msg":"two"}\n');
  });

  it('moves a file past the cap to .1 at start-up', () => {
    const file = path.join(dir, 'edgehook.log');
    fs.writeFileSync(file, 'x'.repeat(100));
    expect(rotateIfLarge(file, 200)).toBe(false);
    expect(rotateIfLarge(file, 50)).toBe(true);
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toHaveLength(100);
    expect(fs.existsSync(file)).toBe(false);
    expect(rotateIfLarge(file, 50)).toBe(false);
  });
});
