import fs from 'node:fs';
import path from 'node:path';
import type { App } from 'electron';

/**
 * Start at login. Electron's app.setLoginItemSettings works on macOS and Windows only; on
 * Linux (Raspberry Pi OS desktop among others) the freedesktop way is an XDG autostart entry,
 * ~/.config/autostart/<name>.desktop, honoured by LXDE/labwc, GNOME, KDE and XFCE.
 *
 * A launch at login starts in the tray without opening the window: `--hidden` on Linux and
 * Windows, wasOpenedAtLogin on macOS (which passes no arguments to login items).
 */

export const HIDDEN_ARG = '--hidden';
export const AUTOSTART_FILE_NAME = 'edgehook.desktop';

export interface LoginItemDeps {
  platform: NodeJS.Platform;
  app: Pick<App, 'setLoginItemSettings'>;
  execPath: string;
  /** Set by the AppImage runtime: the .AppImage file. execPath points into a mount that changes every run. */
  appImage: string | undefined;
  /** $XDG_CONFIG_HOME, or ~/.config. */
  configHome: string;
}

export function autostartFile(configHome: string): string {
  return path.join(configHome, 'autostart', AUTOSTART_FILE_NAME);
}

/**
 * Quotes one Exec argument (Desktop Entry Specification, "The Exec key"): reserved characters
 * get a backslash inside double quotes, then the value's own string escaping doubles every
 * backslash, and a literal % is written %% (field codes start with %).
 */
export function quoteExecArg(arg: string): string {
  const quoted = /^[A-Za-z0-9_\-./+,:=@]+$/.test(arg) ? arg : `"${arg.replace(/[\\"`$]/g, (m) => `\\${m}`)}"`;
  return quoted.replace(/\\/g, '\\\\').replace(/%/g, '%%');
}

export function autostartEntry(executable: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Edgehook',
    'Comment=Device-side webhook agent (starts in the tray)',
    `Exec=${quoteExecArg(executable)} ${HIDDEN_ARG}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export function applyStartAtLogin(enabled: boolean, deps: LoginItemDeps): void {
  if (deps.platform === 'darwin') {
    deps.app.setLoginItemSettings({ openAtLogin: enabled });
    return;
  }
  if (deps.platform === 'win32') {
    // Windows matches the entry by path and args, so both are passed when turning it off too.
    deps.app.setLoginItemSettings({ openAtLogin: enabled, path: deps.execPath, args: [HIDDEN_ARG] });
    return;
  }
  const file = autostartFile(deps.configHome);
  if (!enabled) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, autostartEntry(deps.appImage ?? deps.execPath));
}

/** Whether this launch came from the login item and should stay in the tray. */
export function launchedHidden(
  argv: readonly string[],
  platform: NodeJS.Platform,
  wasOpenedAtLogin: () => boolean,
): boolean {
  if (argv.includes(HIDDEN_ARG)) return true;
  return platform === 'darwin' && wasOpenedAtLogin();
}
