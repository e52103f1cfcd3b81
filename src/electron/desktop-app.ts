import fs from 'node:fs';
import path from 'node:path';
import type { Event as ElectronEvent, NativeImage } from 'electron';
import type { Config } from '../config/schema.js';
import { isEdgehookError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DesktopHandlers } from './desktop-api.js';
import type { AgentLike, DesktopAppDeps, WindowLike } from './desktop-deps.js';
import { registerDesktopApi } from './desktop-ipc.js';
import { openDesktopLog, type DesktopLog } from './desktop-log.js';
import { watchSessionEnd } from './session-end.js';
import { desktopSqliteDriver } from './sqlite-driver-path.js';
import { desktopPaths, type DesktopPaths } from './desktop-paths.js';
import { DEFAULT_SETTINGS, readSettings, writeSettings, type DesktopSettings } from './desktop-settings.js';
import { applyStartAtLogin, launchedHidden } from './login-item.js';
import { TrayController } from './tray-controller.js';
import { trayIconPng } from './tray-icons.js';
import type { TrayState } from './tray-state.js';
import {
  applySessionSecurity,
  buildWindowOptions,
  hardenWebContents,
  isAdminCertificate,
  isAllowedNavigation,
  originOf,
} from './window.js';

/**
 * The desktop shell around createAgent() (docs/architecture.md "Layers": one composition root, thin
 * shells). It owns the lifecycle: one instance per user, the agent started once Electron is ready,
 * a tray that keeps it running with no window open, and Quit that stops the agent before the
 * process ends.
 */

export const STOP_TIMEOUT_MS = 10_000;

/**
 * Windows attributes notifications to this id; it is electron-builder.yml's appId, which the
 * installer writes into the Start menu shortcut. Without it toasts show as "electron.app…" or
 * not at all.
 */
export const APP_USER_MODEL_ID = 'org.edgehook.desktop';

type Phase = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export class DesktopApp {
  private phase: Phase = 'idle';
  private ready: Promise<void> | undefined;
  private settled: Promise<void> | undefined;
  private quitting: Promise<void> | undefined;
  private paths: DesktopPaths | undefined;
  private log: DesktopLog | undefined;
  private logger: Logger | undefined;
  private settings: DesktopSettings = { ...DEFAULT_SETTINGS };
  private agent: AgentLike | undefined;
  private adminOrigin: string | undefined;
  private window: WindowLike | undefined;
  private tray: TrayController | undefined;
  private unregisterIpc: (() => void) | undefined;
  private wantWindow = false;
  /** Linux desktop with no StatusNotifier host: a closed window would leave an invisible process. */
  private noTray = false;
  private readonly icons = new Map<TrayState, NativeImage>();

  constructor(private readonly deps: DesktopAppDeps) {}

  /** Returns false when another instance runs: this one only tells it to show itself, then quits. */
  run(): boolean {
    const { app } = this.deps.electron;
    if (!app.requestSingleInstanceLock()) {
      app.quit();
      return false;
    }
    // Before 'ready': every renderer is sandboxed, whatever a window's options say.
    app.enableSandbox();
    if (this.deps.runtime.platform === 'win32') app.setAppUserModelId(APP_USER_MODEL_ID);
    app.on('second-instance', () => this.showWindow());
    app.on('activate', () => this.showWindow());
    // Having a listener keeps Electron from quitting with the last window: the agent keeps
    // running in the tray, and only Quit stops it.
    app.on('window-all-closed', () => undefined);
    app.on('before-quit', (event) => this.onBeforeQuit(event));
    // The admin UI on a LAN address is HTTPS with a self-signed certificate: trust that one only.
    app.on('certificate-error', (event, _contents, url, _error, certificate, callback) => {
      const ours = isAdminCertificate(
        url,
        certificate.fingerprint,
        this.adminOrigin,
        this.agent?.adminTls?.fingerprint256,
      );
      if (ours) event.preventDefault();
      callback(ours);
    });
    app.on('web-contents-created', (_event, contents) =>
      hardenWebContents(contents, {
        adminOrigin: () => this.adminOrigin,
        openExternal: (url) => this.deps.electron.shell.openExternal(url),
        onRefused: (what, url) => this.logger?.warn({ what, url }, 'refused to leave the admin UI'),
      }),
    );
    for (const signal of ['SIGINT', 'SIGTERM'] as const) this.deps.runtime.onSignal(signal, () => app.quit());
    this.phase = 'starting';
    this.ready = app.whenReady().then(() => this.startUp());
    this.settled = this.ready.catch((err: unknown) => this.startupFailed(err));
    return true;
  }

  /** Settles once start-up has finished, or has failed and been reported. */
  get started(): Promise<void> {
    return this.settled ?? Promise.resolve();
  }

  get trayController(): TrayController | undefined {
    return this.tray;
  }

  /** Shows the admin UI: focuses the window there is, or opens one signed in by the main process. */
  showWindow(): void {
    const loginUrl = this.agent?.loginUrl;
    if (this.phase !== 'running' || !loginUrl) {
      this.wantWindow = this.phase === 'starting' || this.wantWindow;
      return;
    }
    const existing = this.window;
    if (existing && !existing.isDestroyed()) {
      if (existing.isMinimized()) existing.restore();
      existing.show();
      existing.focus();
      return;
    }
    const { BrowserWindow, app } = this.deps.electron;
    const win = new BrowserWindow(
      buildWindowOptions({ preload: this.deps.runtime.preloadPath, devTools: !app.isPackaged }),
    );
    this.window = win;
    win.once('ready-to-show', () => win.show());
    win.on('close', (event) => this.onWindowClose(event));
    win.on('closed', () => {
      if (this.window === win) this.window = undefined;
    });
    // The token travels main → window in the URL; /login turns it into an HttpOnly cookie and
    // redirects to / (README "Admin API"), so the user never types it.
    // Only the code is logged: Electron's message repeats the URL, and with it the token.
    win
      .loadURL(loginUrl)
      .catch((err: unknown) =>
        this.logger?.error({ code: (err as { code?: string }).code }, 'cannot load the admin UI'),
      );
  }

  private async startUp(): Promise<void> {
    const { app, session, ipcMain } = this.deps.electron;
    const paths = desktopPaths(app.getPath('userData'), app.getPath('logs'));
    this.paths = paths;
    this.log = openDesktopLog(paths.logFile, { alsoStdout: !app.isPackaged });
    const logger = this.deps.core.createLogger({ destination: this.log.stream });
    this.logger = logger.child({ module: 'desktop' });
    watchSessionEnd({
      platform: this.deps.runtime.platform,
      powerMonitor: this.deps.electron.powerMonitor,
      createWindow: (options) => new this.deps.electron.BrowserWindow(options),
      quit: (reason) => {
        this.logger?.info({ reason }, 'the session is ending: stopping the agent');
        app.quit();
      },
    });
    if (this.deps.runtime.platform === 'linux') void this.checkTrayHost();

    if (!fs.existsSync(paths.configFile)) {
      this.deps.core.writeStarterConfig(paths.configFile);
      this.logger.info({ configFile: paths.configFile }, 'first run: wrote the starter configuration');
    }
    const { settings, problem } = readSettings(paths.settingsFile);
    if (problem) this.logger.warn({ problem }, 'desktop settings ignored');
    this.settings = settings;
    this.applyLoginItem();

    this.selectSqliteDriver();
    const config = this.desktopConfig(
      this.deps.core.loadConfigFile(paths.configFile, { dataDirOverride: paths.dataDir }),
    );
    logger.level = config.logLevel;
    // configFile: edits made in the UI are written back to this same file.
    const agent = this.deps.core.createAgent({ config, logger, configFile: paths.configFile });
    this.agent = agent;
    await agent.start();
    // Quit was chosen while the agent started: shutdown() is waiting to stop it; build no more.
    if (this.phase === 'stopping') return;
    this.adminOrigin = agent.adminUrl === undefined ? undefined : originOf(agent.adminUrl);

    applySessionSecurity(session.defaultSession, () => this.adminOrigin);
    this.unregisterIpc = registerDesktopApi(
      ipcMain,
      this.handlers(paths),
      (url) => url !== undefined && isAllowedNavigation(url, this.adminOrigin),
    );
    this.tray = new TrayController({
      agent,
      disabledByConfig: new Set(config.endpoints.filter((e) => !e.enabled).map((e) => e.id)),
      createTray: (image) => new this.deps.electron.Tray(image),
      buildMenu: (template) => this.deps.electron.Menu.buildFromTemplate(template),
      iconFor: (state) => this.icon(state),
      notify: (notice) => this.notify(notice.title, notice.body),
      startAtLogin: () => this.settings.startAtLogin,
      actions: {
        open: () => this.showWindow(),
        openDataFolder: () =>
          void this.openPath(paths.dataDir).catch((err: unknown) =>
            this.logger?.warn({ err: (err as Error).message }, 'open data folder'),
          ),
        setStartAtLogin: (enabled) => this.setStartAtLogin(enabled),
        quit: () => app.quit(),
      },
      ...(this.deps.pollIntervalMs ? { intervalMs: this.deps.pollIntervalMs } : {}),
      onError: (err) => this.logger?.debug({ err: (err as Error).message }, 'status poll failed'),
    });
    this.tray.start();
    this.phase = 'running';
    this.logger.info({ adminUrl: agent.adminUrl }, 'desktop app ready');
    const hidden = launchedHidden(
      this.deps.runtime.argv,
      this.deps.runtime.platform,
      () => app.getLoginItemSettings().wasOpenedAtLogin,
    );
    if (this.wantWindow || !hidden) this.showWindow();
  }

  /**
   * Under Electron the driver in node_modules (built for Node's ABI) cannot load: point
   * better-sqlite3 at the one built for Electron. Under plain Node (tests of main.ts) the
   * default is the right one.
   */
  private selectSqliteDriver(): void {
    const { app } = this.deps.electron;
    const { electronVersion, resourcesPath, sourceRoot, platform, arch } = this.deps.runtime;
    if (electronVersion === undefined) return;
    const { file, hint } = desktopSqliteDriver({
      packaged: app.isPackaged,
      resourcesPath,
      sourceRoot,
      platform,
      arch,
    });
    this.deps.core.useSqliteDriver(file, hint);
    this.logger?.info({ file, electron: electronVersion }, 'SQLite driver for Electron');
  }

  private async checkTrayHost(): Promise<void> {
    const host = await this.deps.runtime.trayHost().catch(() => undefined);
    this.noTray = host === false;
    if (this.noTray)
      this.logger?.warn('this desktop shows no tray icons: closing the window will offer to quit Edgehook');
  }

  /**
   * With no tray to come back to, closing the window must not leave an invisible agent: ask,
   * and either quit cleanly or keep the window.
   */
  private onWindowClose(event: ElectronEvent): void {
    if (!this.noTray || this.phase !== 'running') return;
    event.preventDefault();
    const { dialog, app } = this.deps.electron;
    void dialog
      .showMessageBox({
        type: 'question',
        title: 'Edgehook',
        message: 'Quit Edgehook?',
        detail:
          'This desktop shows no tray icons, so Edgehook cannot keep running with its window closed. ' +
          'Quitting stops taking MQTT messages and delivering webhooks until you start Edgehook again.',
        buttons: ['Quit Edgehook', 'Keep the window open'],
        defaultId: 0,
        cancelId: 1,
        noLink: true,
      })
      .then(({ response }) => {
        if (response === 0) app.quit();
      });
  }

  /** The window is the admin UI, so the desktop app runs the admin server even if the file turned it off. */
  private desktopConfig(config: Config): Config {
    if (config.admin.enabled) return config;
    this.logger?.warn('admin.enabled: false is ignored by the desktop app: its window is the admin UI');
    return { ...config, admin: { ...config.admin, enabled: true } };
  }

  private handlers(paths: DesktopPaths): DesktopHandlers {
    const { app } = this.deps.electron;
    return {
      info: () => ({
        version: app.getVersion(),
        platform: this.deps.runtime.platform,
        configFile: paths.configFile,
        dataDir: paths.dataDir,
        logFile: paths.logFile,
        startAtLogin: this.settings.startAtLogin,
        packaged: app.isPackaged,
      }),
      openDataFolder: () => this.openPath(paths.dataDir),
      openConfigFile: () => this.openPath(paths.configFile),
      openLogFile: () => this.openPath(paths.logFile),
      setStartAtLogin: (enabled) => this.setStartAtLogin(enabled),
    };
  }

  private async openPath(target: string): Promise<void> {
    // shell.openPath reports failure as a message, not a rejection.
    const error = await this.deps.electron.shell.openPath(target);
    if (error) throw new Error(`cannot open ${target}: ${error}`);
  }

  private setStartAtLogin(enabled: boolean): boolean {
    this.settings = { ...this.settings, startAtLogin: enabled };
    if (this.paths) writeSettings(this.paths.settingsFile, this.settings);
    this.applyLoginItem();
    this.tray?.settingsChanged();
    return this.settings.startAtLogin;
  }

  private applyLoginItem(): void {
    const { app } = this.deps.electron;
    // In development the executable is the bare Electron binary: a login item pointing at it
    // would open Electron's default app at every login.
    if (!app.isPackaged) return;
    const { env, platform, execPath } = this.deps.runtime;
    try {
      applyStartAtLogin(this.settings.startAtLogin, {
        platform,
        app,
        execPath,
        appImage: env.APPIMAGE,
        configHome: env.XDG_CONFIG_HOME || path.join(app.getPath('home'), '.config'),
        home: app.getPath('home'),
      });
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'cannot change start at login');
    }
  }

  private icon(state: TrayState): NativeImage {
    let image = this.icons.get(state);
    if (!image) {
      image = this.deps.electron.nativeImage.createFromBuffer(trayIconPng(state, 1), { scaleFactor: 1 });
      image.addRepresentation({ scaleFactor: 2, buffer: trayIconPng(state, 2) });
      this.icons.set(state, image);
    }
    return image;
  }

  private notify(title: string, body: string): void {
    const { Notification } = this.deps.electron;
    if (!Notification.isSupported()) return;
    const notification = new Notification({ title, body });
    notification.on('click', () => this.showWindow());
    notification.show();
  }

  private onBeforeQuit(event: ElectronEvent): void {
    if (this.phase === 'stopped') return;
    // Electron would tear the process down right after this event; the agent must first stop
    // taking messages and close SQLite, so hold the quit, stop, then quit again.
    event.preventDefault();
    this.quitting ??= this.shutdown().finally(() => {
      this.phase = 'stopped';
      this.deps.electron.app.quit();
    });
  }

  private async shutdown(): Promise<void> {
    this.phase = 'stopping';
    // A quit during start-up waits for the start to finish, then stops what it built.
    await this.ready?.catch(() => undefined);
    this.tray?.stop();
    this.unregisterIpc?.();
    if (this.agent) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = this.deps.stopTimeoutMs ?? STOP_TIMEOUT_MS;
      const stopped = this.agent.stop().then(
        () => true,
        (err: unknown) => {
          this.logger?.error({ err: (err as Error).message }, 'error while stopping the agent');
          return true;
        },
      );
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), limit);
      });
      // Whatever is not acked yet stays in the outbox or with the broker: leaving late loses nothing.
      if (!(await Promise.race([stopped, timedOut])))
        this.logger?.warn({ limitMs: limit }, 'the agent did not stop in time; quitting anyway');
      clearTimeout(timer);
    }
    this.logger?.info('desktop app stopped');
    await this.log?.close();
  }

  private async startupFailed(err: unknown): Promise<void> {
    const { dialog, shell, app } = this.deps.electron;
    this.logger?.error({ err: (err as Error)?.message }, 'cannot start');
    const lines = isEdgehookError(err)
      ? [err.message, ...err.details]
      : [(err as Error)?.message ?? String(err)];
    if (this.paths) lines.push('', `Configuration: ${this.paths.configFile}`, `Log: ${this.paths.logFile}`);
    const buttons = this.paths ? ['Open configuration', 'Quit'] : ['Quit'];
    try {
      const { response } = await dialog.showMessageBox({
        type: 'error',
        title: 'Edgehook',
        message: 'Edgehook could not start',
        detail: lines.join('\n'),
        buttons,
        defaultId: 0,
        cancelId: buttons.length - 1,
        noLink: true,
      });
      if (this.paths && response === 0) await shell.openPath(this.paths.configFile);
    } finally {
      app.quit();
      await this.quitting;
    }
  }
}
