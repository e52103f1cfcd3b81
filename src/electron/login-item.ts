import fs from 'node:fs';
import path from 'node:path';
import type { App } from 'electron';

/**
 * Start at login. Electron's app.setLoginItemSettings works on macOS and Windows only; on
 * Linux (Raspberry Pi OS desktop among others) the freedesktop way is an XDG autostart entry,
 * ~/.config/autostart/<name>.desktop, honoured by LXDE/labwc, GNOME, KDE and XFCE.
 *
 * A launch at login starts in the tray without opening the window: `--hidden` everywhere. On
 * macOS a login item can pass no arguments, and since macOS 13 (SMAppService) Electron no longer
 * reports wasOpenedAtLogin, so the window opened at every login; a per-user LaunchAgent starts
 * the app with `--hidden` instead (launchd.plist(5), RunAtLoad).
 */

export const HIDDEN_ARG = '--hidden';
export const AUTOSTART_FILE_NAME = 'edgehook.desktop';
/** The LaunchAgent's label and file name: electron-builder.yml's appId. */
export const LAUNCH_AGENT_LABEL = 'org.edgehook.desktop';

export interface LoginItemDeps {
  platform: NodeJS.Platform;
  app: Pick<App, 'setLoginItemSettings'>;
  execPath: string;
  /** Set by the AppImage runtime: the .AppImage file. execPath points into a mount that changes every run. */
  appImage: string | undefined;
  /** $XDG_CONFIG_HOME, or ~/.config. */
  configHome: string;
  /** The user's home folder (macOS: ~/Library/LaunchAgents). */
  home: string;
}

export function launchAgentFile(home: string): string {
  return path.join(home, 'Library', 'LaunchAgents', `${LAUNCH_AGENT_LABEL}.plist`);
}

const xml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function launchAgentPlist(executable: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key><string>${LAUNCH_AGENT_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    `  <array><string>${xml(executable)}</string><string>${HIDDEN_ARG}</string></array>`,
    '  <key>RunAtLoad</key><true/>',
    // Only in a graphical login, never for an SSH session.
    '  <key>LimitLoadToSessionType</key><string>Aqua</string>',
    '  <key>ProcessType</key><string>Interactive</string>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
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
    // Removes the login item earlier versions registered: with the LaunchAgent it would start twice.
    deps.app.setLoginItemSettings({ openAtLogin: false });
    const file = launchAgentFile(deps.home);
    if (!enabled) {
      fs.rmSync(file, { force: true });
      return;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, launchAgentPlist(deps.execPath));
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

/** Whether this launch came from the login item and should stay in the tray (wasOpenedAtLogin: macOS 12 and older login items). */
export function launchedHidden(
  argv: readonly string[],
  platform: NodeJS.Platform,
  wasOpenedAtLogin: () => boolean,
): boolean {
  if (argv.includes(HIDDEN_ARG)) return true;
  return platform === 'darwin' && wasOpenedAtLogin();
}
