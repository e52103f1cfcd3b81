import path from 'node:path';

/**
 * Where the desktop app keeps everything, all under Electron's per-user `userData` folder
 * (docs/desktop.md lists them per platform). One function, so the main process, the IPC
 * handlers and the docs cannot disagree.
 */
export interface DesktopPaths {
  userData: string;
  /**
   * The same YAML the headless agent reads (README "Configuration reference"); written from the
   * starter on first run.
   */
  configFile: string;
  /** SQLite outbox and the admin token; wins over the file's own dataDir. */
  dataDir: string;
  /** Desktop-only settings (start at login), kept out of edgehook.yaml so the file stays portable. */
  settingsFile: string;
  logFile: string;
}

export function desktopPaths(userData: string, logsDir: string): DesktopPaths {
  return {
    userData,
    configFile: path.join(userData, 'edgehook.yaml'),
    dataDir: path.join(userData, 'data'),
    settingsFile: path.join(userData, 'desktop-settings.json'),
    logFile: path.join(logsDir, 'edgehook.log'),
  };
}
