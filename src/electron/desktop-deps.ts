import type {
  App,
  BrowserWindow,
  BrowserWindowConstructorOptions,
  CreateFromBufferOptions,
  Dialog,
  Menu,
  MenuItemConstructorOptions,
  NativeImage,
  Notification,
  NotificationConstructorOptions,
  Shell,
} from 'electron';
import type { AgentStatus } from '../agent/agent-status.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { IpcMainLike } from './desktop-ipc.js';
import type { TrayLike } from './tray-controller.js';
import type { SessionLike } from './window.js';

/**
 * What the desktop app needs from Electron, the core and the process, named as narrowly as it
 * uses them. main.ts passes the real modules; tests pass fakes. Structural types: Electron's
 * own classes satisfy them, which `npm run typecheck` verifies in main.ts.
 */

export type WindowLike = Pick<
  BrowserWindow,
  'loadURL' | 'show' | 'focus' | 'restore' | 'isMinimized' | 'isDestroyed' | 'once' | 'on'
>;

export type NotificationLike = Pick<Notification, 'show' | 'on'>;

export interface ElectronModules {
  app: Pick<
    App,
    | 'on'
    | 'quit'
    | 'whenReady'
    | 'requestSingleInstanceLock'
    | 'enableSandbox'
    | 'getPath'
    | 'getVersion'
    | 'setLoginItemSettings'
    | 'getLoginItemSettings'
    | 'isPackaged'
    | 'setAppUserModelId'
  >;
  /** Linux and macOS: 'shutdown' (session-end.ts). Usable only after 'ready'. */
  powerMonitor: { on(event: 'shutdown', listener: (event?: { preventDefault(): void }) => void): unknown };
  BrowserWindow: new (options: BrowserWindowConstructorOptions) => WindowLike;
  Tray: new (image: NativeImage) => TrayLike;
  Menu: { buildFromTemplate(template: MenuItemConstructorOptions[]): Menu };
  nativeImage: { createFromBuffer(buffer: Buffer, options?: CreateFromBufferOptions): NativeImage };
  Notification: { new (options: NotificationConstructorOptions): NotificationLike; isSupported(): boolean };
  shell: Pick<Shell, 'openExternal' | 'openPath'>;
  session: { defaultSession: SessionLike };
  ipcMain: IpcMainLike;
  dialog: Pick<Dialog, 'showMessageBox'>;
}

/** The slice of the core Agent the shell drives (src/agent/create-agent.ts). */
export interface AgentLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): AgentStatus;
  readonly adminUrl: string | undefined;
  readonly loginUrl: string | undefined;
  /** Set when the admin server speaks HTTPS: the window trusts exactly this certificate. */
  readonly adminTls?: { readonly fingerprint256: string } | undefined;
  pauseDelivery(): void;
  resumeDelivery(): void;
}

export interface CoreModules {
  loadConfigFile(file: string, opts: { dataDirOverride: string }): Config;
  writeStarterConfig(file: string): void;
  createAgent(options: { config: Config; logger: Logger; configFile?: string }): AgentLike;
  createLogger(options: { level?: string; destination?: NodeJS.WritableStream }): Logger;
  /** Selects and checks the SQLite driver every later database opens with (src/outbox/sqlite-driver.ts). */
  useSqliteDriver(file: string, hint: string): void;
}

export interface RuntimeInfo {
  platform: NodeJS.Platform;
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  execPath: string;
  /** process.versions.electron: undefined when main.ts runs under plain Node (its tests). */
  electronVersion: string | undefined;
  /** process.resourcesPath. */
  resourcesPath: string;
  /** The folder above dist/: the repository when run from it (`npm run desktop`). */
  sourceRoot: string;
  arch: string;
  /**
   * Linux: whether a StatusNotifier host shows tray icons (tray-host.ts); undefined when it
   * cannot tell. Elsewhere the tray is always there.
   */
  trayHost(): Promise<boolean | undefined>;
  /** Absolute path of the compiled preload.cjs. */
  preloadPath: string;
  /** process.on for SIGINT/SIGTERM: a logout or Ctrl-C in `npm run desktop` also stops cleanly. */
  onSignal(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
}

export interface DesktopAppDeps {
  electron: ElectronModules;
  core: CoreModules;
  runtime: RuntimeInfo;
  /** How long Quit waits for agent.stop() before leaving anyway. */
  stopTimeoutMs?: number;
  pollIntervalMs?: number;
}
