import { EventEmitter } from 'node:events';
import path from 'node:path';
import type {
  BrowserWindowConstructorOptions,
  MenuItemConstructorOptions,
  NotificationConstructorOptions,
} from 'electron';
import { vi } from 'vitest';
import type { AgentStatus } from '../../src/agent/agent-status.js';
import type { AgentLike, ElectronModules } from '../../src/electron/desktop-deps.js';

/**
 * Stand-ins for the Electron modules the desktop app uses (Electron cannot run here,
 * docs/development.md "System packages"). They behave like Electron where the tests depend on it:
 * app.quit() emits 'before-quit' and only exits if nobody called preventDefault().
 */

export interface FakeEvent {
  url?: string;
  preventDefault: () => void;
  readonly defaultPrevented: boolean;
}

export function fakeEvent(extra: { url?: string } = {}): FakeEvent {
  let prevented = false;
  return {
    ...extra,
    preventDefault: () => {
      prevented = true;
    },
    get defaultPrevented() {
      return prevented;
    },
  };
}

export class FakeWebContents extends EventEmitter {
  windowOpenHandler: ((details: { url: string }) => { action: string }) | undefined;
  readonly setWindowOpenHandler = vi.fn((handler: (details: { url: string }) => { action: string }) => {
    this.windowOpenHandler = handler;
  });
  readonly loadURL = vi.fn(async (_url: string) => undefined);
  url = '';
  readonly getURL = () => this.url;

  /** Emits a navigation event as Electron does; true when a listener prevented it. */
  attempt(event: 'will-navigate' | 'will-redirect', url: string): boolean {
    const e = fakeEvent({ url });
    this.emit(event, e, url);
    return e.defaultPrevented;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  readonly webContents = new FakeWebContents();
  minimized = false;
  destroyed = false;
  readonly loadURL = vi.fn(async (_url: string) => undefined);
  readonly show = vi.fn();
  readonly focus = vi.fn();
  readonly restore = vi.fn(() => {
    this.minimized = false;
  });
  readonly isMinimized = () => this.minimized;
  readonly isDestroyed = () => this.destroyed;
  constructor(readonly options: BrowserWindowConstructorOptions) {
    super();
  }
  close(): void {
    this.destroyed = true;
    this.emit('closed');
  }
}

export class FakeTray extends EventEmitter {
  image: unknown;
  tooltip = '';
  menu: { items: MenuItemConstructorOptions[] } | undefined;
  readonly setImage = vi.fn((image: unknown) => {
    this.image = image;
  });
  readonly setToolTip = vi.fn((text: string) => {
    this.tooltip = text;
  });
  readonly setContextMenu = vi.fn((menu: { items: MenuItemConstructorOptions[] }) => {
    this.menu = menu;
  });
  readonly destroy = vi.fn();
  constructor(image: unknown) {
    super();
    this.image = image;
  }
  item(id: string): MenuItemConstructorOptions {
    const found = this.menu?.items.find((i) => i.id === id);
    if (!found) throw new Error(`no tray menu item ${id}`);
    return found;
  }
  click(id: string): void {
    (this.item(id).click as () => void)();
  }
}

export interface FakeImage {
  buffer: Buffer;
  representations: { scaleFactor: number; buffer: Buffer }[];
  addRepresentation(rep: { scaleFactor: number; buffer: Buffer }): void;
}

export class FakeApp extends EventEmitter {
  exited = false;
  isPackaged: boolean;
  private readonly readyGate: Promise<void>;
  ready!: () => void;
  readonly requestSingleInstanceLock: ReturnType<typeof vi.fn<() => boolean>>;
  readonly enableSandbox = vi.fn();
  readonly setAppUserModelId = vi.fn();
  readonly setLoginItemSettings = vi.fn();
  readonly getLoginItemSettings = vi.fn(() => ({ openAtLogin: false, wasOpenedAtLogin: false }));
  readonly getVersion = () => '9.8.7';
  readonly whenReady = vi.fn(() => this.readyGate);
  readonly quit = vi.fn(() => {
    const event = fakeEvent();
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.exited = true;
  });
  readonly getPath = vi.fn((name: string) => {
    if (name === 'userData') return this.userData;
    if (name === 'logs') return path.join(this.userData, 'logs');
    if (name === 'home') return path.join(this.userData, 'home');
    throw new Error(`unexpected getPath(${name})`);
  });
  constructor(
    private readonly userData: string,
    opts: { lock: boolean; packaged: boolean },
  ) {
    super();
    this.isPackaged = opts.packaged;
    this.requestSingleInstanceLock = vi.fn(() => opts.lock);
    this.readyGate = new Promise((resolve) => (this.ready = resolve));
  }
}

export function createFakeElectron(userData: string, opts: { lock?: boolean; packaged?: boolean } = {}) {
  const app = new FakeApp(userData, { lock: opts.lock ?? true, packaged: opts.packaged ?? false });
  const windows: FakeBrowserWindow[] = [];
  const trays: FakeTray[] = [];
  const notifications: (NotificationConstructorOptions & { clicked(): void })[] = [];
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  let headersListener:
    | ((details: { responseHeaders?: Record<string, string[]> }, cb: (r: unknown) => void) => void)
    | undefined;

  const modules = {
    app,
    BrowserWindow: class extends FakeBrowserWindow {
      constructor(options: BrowserWindowConstructorOptions) {
        super(options);
        windows.push(this);
      }
    },
    Tray: class extends FakeTray {
      constructor(image: unknown) {
        super(image);
        trays.push(this);
      }
    },
    Menu: { buildFromTemplate: (items: MenuItemConstructorOptions[]) => ({ items }) },
    nativeImage: {
      createFromBuffer: (buffer: Buffer): FakeImage => {
        const image: FakeImage = {
          buffer,
          representations: [],
          addRepresentation: (rep) => void image.representations.push(rep),
        };
        return image;
      },
    },
    Notification: class extends EventEmitter {
      static isSupported = () => true;
      constructor(options: NotificationConstructorOptions) {
        super();
        notifications.push({ ...options, clicked: () => this.emit('click') });
      }
      show = vi.fn();
    },
    shell: {
      openExternal: vi.fn(async (_url: string) => undefined),
      openPath: vi.fn(async (_p: string) => ''),
    },
    session: {
      defaultSession: {
        webRequest: {
          onHeadersReceived: vi.fn((listener: typeof headersListener) => {
            headersListener = listener;
          }),
        },
        setPermissionRequestHandler: vi.fn(),
        setPermissionCheckHandler: vi.fn(),
      },
    },
    ipcMain: {
      handle: vi.fn(
        (channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) =>
          void handlers.set(channel, fn),
      ),
      removeHandler: vi.fn((channel: string) => void handlers.delete(channel)),
    },
    dialog: { showMessageBox: vi.fn(async (_options: unknown) => ({ response: 1, checkboxChecked: false })) },
    powerMonitor: new EventEmitter(),
  };

  return {
    modules: modules as unknown as ElectronModules,
    app,
    windows,
    trays,
    notifications,
    shell: modules.shell,
    dialog: modules.dialog,
    powerMonitor: modules.powerMonitor,
    session: modules.session.defaultSession,
    /** Calls an IPC handler as a frame showing `frameUrl` would. */
    invoke: async (channel: string, frameUrl: string, ...args: unknown[]) => {
      const handler = handlers.get(channel);
      if (!handler) throw new Error(`no handler for ${channel}`);
      return handler({ senderFrame: { url: frameUrl } }, ...args);
    },
    channels: () => [...handlers.keys()],
    /** Runs the CSP listener on a response, as Chromium would. */
    headersFor: (responseHeaders: Record<string, string[]>) =>
      new Promise<{ responseHeaders: Record<string, string[]> }>((resolve) => {
        if (!headersListener) throw new Error('no onHeadersReceived listener');
        headersListener({ responseHeaders }, (r) =>
          resolve(r as { responseHeaders: Record<string, string[]> }),
        );
      }),
  };
}

export type FakeElectron = ReturnType<typeof createFakeElectron>;

type EndpointStatus = AgentStatus['endpoints'][number];

/**
 * Status fixtures. Cast rather than annotated: the status body grows as features land, and the
 * shell reads only a few of its fields; a new field must not break every desktop test.
 */
export function endpoint(id: string, over: Partial<EndpointStatus> = {}): EndpointStatus {
  return {
    id,
    url: `https://${id}.example/hooks`,
    state: 'healthy',
    pending: 0,
    inFlight: 0,
    consecutiveFailures: 0,
    backoffUntil: null,
    lastError: null,
    lastStatus: null,
    blockedBy: null,
    heldByClock: false,
    ...over,
  } as EndpointStatus;
}

export function makeStatus(
  over: {
    connected?: boolean;
    endpoints?: EndpointStatus[];
    pending?: number;
    failed?: number;
    clockPlausible?: boolean;
  } = {},
): AgentStatus {
  return {
    agent: {
      id: 'gw',
      version: '0.1.0',
      startedAt: 0,
      uptimeSeconds: 1,
      clockPlausible: over.clockPlausible ?? true,
    },
    mqtt: {
      connected: over.connected ?? true,
      url: 'mqtt://127.0.0.1:1883',
      embedded: true,
      holding: false,
      held: 0,
    },
    outbox: {
      received: 0,
      pending: over.pending ?? 0,
      delivered: 0,
      failed: over.failed ?? 0,
      rejected: 0,
      dropped: 0,
      expired: 0,
      deleted: 0,
      unrouted: 0,
      bytes: 0,
      maxBytes: 1,
      oldestPendingAt: null,
      oldestPendingAgeSeconds: null,
    },
    endpoints: over.endpoints ?? [endpoint('cloud')],
  } as AgentStatus;
}

export class FakeAgent implements AgentLike {
  statusValue: AgentStatus = makeStatus();
  /** When set, stop() waits for it: lets a test see what happens while the agent is stopping. */
  stopGate: Promise<void> | undefined;
  stopped = false;
  adminUrl: string | undefined = 'http://127.0.0.1:8787';
  readonly start = vi.fn(async () => undefined);
  readonly stop = vi.fn(async () => {
    await this.stopGate;
    this.stopped = true;
  });
  readonly status = vi.fn(() => this.statusValue);
  readonly pauseDelivery = vi.fn();
  readonly resumeDelivery = vi.fn();
  get loginUrl(): string | undefined {
    return this.adminUrl && `${this.adminUrl}/login?token=desktop-test-token`;
  }
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
