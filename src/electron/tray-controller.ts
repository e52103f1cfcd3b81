import type { Menu, MenuItemConstructorOptions, NativeImage, Tray } from 'electron';
import type { AgentStatus } from '../agent/agent-status.js';
import {
  deriveTrayView,
  noticesBetween,
  statusLine,
  type DesktopNotice,
  type TrayState,
  type TrayView,
} from './tray-state.js';

/**
 * The tray icon: polls agent.status(), shows the derived state as icon, tooltip and first menu
 * line, and raises a notice when things get worse. Electron enters only through `deps`, so the
 * tests drive it with fakes and fake timers.
 */

export const POLL_INTERVAL_MS = 2000;

export interface TrayActions {
  open(): void;
  openDataFolder(): void;
  setStartAtLogin(enabled: boolean): void;
  quit(): void;
}

export interface TrayMenuState {
  paused: boolean;
  startAtLogin: boolean;
}

export interface TrayMenuHandlers extends TrayActions {
  setPaused(paused: boolean): void;
}

/**
 * The tray menu (docs/desktop.md "The tray"): Open, Pause delivery, Open data folder, (Start at
 * login), Quit.
 */
export function buildTrayMenu(
  view: TrayView,
  state: TrayMenuState,
  on: TrayMenuHandlers,
): MenuItemConstructorOptions[] {
  return [
    { id: 'status', label: statusLine(view), enabled: false },
    { type: 'separator' },
    { id: 'open', label: 'Open Edgehook', click: () => on.open() },
    {
      id: 'pause',
      label: 'Pause delivery',
      type: 'checkbox',
      checked: state.paused,
      click: () => on.setPaused(!state.paused),
    },
    { id: 'data', label: 'Open data folder', click: () => on.openDataFolder() },
    {
      id: 'login',
      label: 'Start at login',
      type: 'checkbox',
      checked: state.startAtLogin,
      click: () => on.setStartAtLogin(!state.startAtLogin),
    },
    { type: 'separator' },
    { id: 'quit', label: 'Quit Edgehook', click: () => on.quit() },
  ];
}

export type TrayLike = Pick<Tray, 'setImage' | 'setToolTip' | 'setContextMenu' | 'on' | 'destroy'>;

export interface TrayControllerDeps {
  agent: { status(): AgentStatus; pauseDelivery(): void; resumeDelivery(): void };
  /** Endpoints disabled in the config: intended, so not "failing". */
  disabledByConfig: ReadonlySet<string>;
  createTray(image: NativeImage): TrayLike;
  buildMenu(template: MenuItemConstructorOptions[]): Menu;
  iconFor(state: TrayState): NativeImage;
  notify(notice: DesktopNotice): void;
  startAtLogin(): boolean;
  actions: TrayActions;
  intervalMs?: number;
  onError?(err: unknown): void;
}

export class TrayController {
  private tray: TrayLike | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private view: TrayView | undefined;
  private paused = false;
  private menuKey = '';

  constructor(private readonly deps: TrayControllerDeps) {}

  get state(): TrayState {
    return this.view?.state ?? 'starting';
  }

  get deliveryPaused(): boolean {
    return this.paused;
  }

  start(): void {
    if (this.tray) return;
    const tray = this.deps.createTray(this.deps.iconFor('starting'));
    this.tray = tray;
    // Windows and macOS send 'click'; Linux AppIndicator trays only show the menu.
    tray.on('click', () => this.deps.actions.open());
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.deps.intervalMs ?? POLL_INTERVAL_MS);
  }

  refresh(): void {
    const tray = this.tray;
    if (!tray) return;
    let status: AgentStatus;
    try {
      status = this.deps.agent.status();
    } catch (err) {
      // The outbox may be closing during quit; the next poll (if any) tries again.
      this.deps.onError?.(err);
      return;
    }
    const next = deriveTrayView(status, {
      paused: this.paused,
      disabledByConfig: this.deps.disabledByConfig,
    });
    const prev = this.view;
    this.view = next;
    if (prev?.state !== next.state) tray.setImage(this.deps.iconFor(next.state));
    if (prev?.summary !== next.summary) tray.setToolTip(next.summary);
    this.updateMenu(next);
    for (const notice of noticesBetween(prev, next)) this.deps.notify(notice);
  }

  setPaused(paused: boolean): void {
    if (paused) this.deps.agent.pauseDelivery();
    else this.deps.agent.resumeDelivery();
    this.paused = paused;
    this.refresh();
  }

  /** Called when start-at-login changed elsewhere (the UI), so the checkbox follows. */
  settingsChanged(): void {
    if (this.view) this.updateMenu(this.view);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.tray?.destroy();
    this.tray = undefined;
  }

  private updateMenu(view: TrayView): void {
    const state: TrayMenuState = { paused: this.paused, startAtLogin: this.deps.startAtLogin() };
    // Rebuilt only when what it shows changed: replacing the menu every poll closes it under
    // the user's pointer on some Linux panels.
    const key = JSON.stringify([statusLine(view), state]);
    if (key === this.menuKey) return;
    this.menuKey = key;
    const a = this.deps.actions;
    const template = buildTrayMenu(view, state, {
      open: () => a.open(),
      openDataFolder: () => a.openDataFolder(),
      setStartAtLogin: (on) => a.setStartAtLogin(on),
      quit: () => a.quit(),
      setPaused: (p) => this.setPaused(p),
    });
    this.tray?.setContextMenu(this.deps.buildMenu(template));
  }
}
