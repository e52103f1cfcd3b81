import { execFile } from 'node:child_process';

/**
 * Whether a Linux desktop can show the tray icon. Electron's tray on Linux is a
 * StatusNotifierItem: it shows only where a host has registered with the StatusNotifierWatcher
 * on the session bus (KDE, XFCE, Raspberry Pi OS's panel, GNOME with the AppIndicator
 * extension). Stock GNOME has none, and an app that "keeps running in the tray" there is an
 * invisible process. Asked once at start with the stock D-Bus tools; each answers in
 * milliseconds, and a missing tool or bus counts as unknown, not as "no tray".
 */

export type RunTool = (command: string, args: string[]) => Promise<string>;

const PROPERTY = ['org.kde.StatusNotifierWatcher', 'IsStatusNotifierHostRegistered'];

const runTool: RunTool = (command, args) =>
  new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 2_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );

/** true: a host is there; false: the watcher says none, or there is no watcher; undefined: cannot tell. */
export async function statusNotifierHost(run: RunTool = runTool): Promise<boolean | undefined> {
  const attempts: [string, string[], RegExp][] = [
    [
      'gdbus',
      ['call', '--session', '--dest', PROPERTY[0]!, '--object-path', '/StatusNotifierWatcher', '--method'],
      /<true>/,
    ],
    [
      'dbus-send',
      ['--session', '--print-reply', `--dest=${PROPERTY[0]}`, '/StatusNotifierWatcher'],
      /boolean true/,
    ],
  ];
  attempts[0]![1].push('org.freedesktop.DBus.Properties.Get', ...PROPERTY);
  attempts[1]![1].push('org.freedesktop.DBus.Properties.Get', ...PROPERTY.map((p) => `string:${p}`));
  for (const [command, args, yes] of attempts) {
    try {
      return yes.test(await run(command, args));
    } catch (err) {
      // The tool is there but the call failed: no watcher on the bus, so no host either.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        return /ServiceUnknown|NameHasNoOwner/.test(String(err)) ? false : undefined;
    }
  }
  return undefined;
}
