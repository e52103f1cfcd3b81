import type { MenuItemConstructorOptions, NativeImage } from 'electron';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  POLL_INTERVAL_MS,
  TrayController,
  type TrayControllerDeps,
} from '../../src/electron/tray-controller.js';
import type { DesktopNotice, TrayState } from '../../src/electron/tray-state.js';
import { endpoint, FakeAgent, FakeTray, makeStatus } from './fakes.js';

function setup(over: Partial<TrayControllerDeps> = {}) {
  const agent = new FakeAgent();
  const trays: FakeTray[] = [];
  const notices: DesktopNotice[] = [];
  const actions = { open: vi.fn(), openDataFolder: vi.fn(), setStartAtLogin: vi.fn(), quit: vi.fn() };
  let startAtLogin = true;
  const controller = new TrayController({
    agent,
    disabledByConfig: new Set(['off']),
    createTray: (image) => {
      const tray = new FakeTray(image);
      trays.push(tray);
      return tray as never;
    },
    buildMenu: (items: MenuItemConstructorOptions[]) => ({ items }) as never,
    // The icon stands for its state, so the test reads which state is shown.
    iconFor: (state: TrayState) => state as unknown as NativeImage,
    notify: (n) => notices.push(n),
    startAtLogin: () => startAtLogin,
    actions,
    ...over,
  });
  return {
    agent,
    controller,
    notices,
    actions,
    tray: () => trays[0]!,
    setStartAtLogin: (v: boolean) => (startAtLogin = v),
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TrayController', () => {
  it('shows the state of the first poll, then follows changes every poll interval', () => {
    const t = setup();
    t.controller.start();
    expect(t.tray().image).toBe('connected');
    expect(t.tray().tooltip).toBe('Edgehook: Connected · 0 pending');

    t.agent.statusValue = makeStatus({
      endpoints: [endpoint('cloud', { state: 'backing-off', consecutiveFailures: 1 })],
      pending: 12,
    });
    vi.advanceTimersByTime(POLL_INTERVAL_MS - 1);
    expect(t.tray().image).toBe('connected');
    vi.advanceTimersByTime(1);
    expect(t.tray().image).toBe('backing-off');
    expect(t.tray().tooltip).toBe('Edgehook: Endpoint retrying · 12 pending');

    t.agent.statusValue = makeStatus({
      endpoints: [endpoint('cloud', { state: 'backing-off', consecutiveFailures: 6 })],
    });
    vi.advanceTimersByTime(POLL_INTERVAL_MS);
    expect(t.tray().image).toBe('failing');
    expect(t.tray().item('status').label).toBe('Delivery failing: cloud');

    t.agent.statusValue = makeStatus();
    vi.advanceTimersByTime(POLL_INTERVAL_MS);
    expect(t.tray().image).toBe('connected');
    // starting→connected, →backing-off, →failing, →connected: once per change, not per poll.
    expect(t.tray().setImage).toHaveBeenCalledTimes(4);
  });

  it('notifies when an endpoint starts failing or is disabled, not at every poll', () => {
    const t = setup();
    t.controller.start();
    t.agent.statusValue = makeStatus({
      endpoints: [
        endpoint('cloud', { state: 'backing-off', consecutiveFailures: 9, lastError: 'ETIMEDOUT' }),
      ],
    });
    vi.advanceTimersByTime(POLL_INTERVAL_MS * 3);
    expect(t.notices).toEqual([{ title: 'Endpoint "cloud" is failing', body: 'ETIMEDOUT' }]);
    t.agent.statusValue = makeStatus({
      endpoints: [endpoint('cloud', { state: 'disabled', lastError: 'HTTP 410 Gone: endpoint disabled' })],
    });
    vi.advanceTimersByTime(POLL_INTERVAL_MS);
    expect(t.notices.map((n) => n.title)).toEqual([
      'Endpoint "cloud" is failing',
      'Endpoint "cloud" was disabled',
    ]);
  });

  it('does not count an endpoint disabled in the config as failing', () => {
    const t = setup();
    t.agent.statusValue = makeStatus({ endpoints: [endpoint('off', { state: 'disabled' })] });
    t.controller.start();
    vi.advanceTimersByTime(POLL_INTERVAL_MS);
    expect(t.tray().image).toBe('connected');
    expect(t.notices).toEqual([]);
  });

  it('has the menu of the issue, and each item does its job', () => {
    const t = setup();
    t.controller.start();
    const items = t
      .tray()
      .menu!.items.filter((i) => i.type !== 'separator')
      .map((i) => i.label);
    expect(items).toEqual([
      'Connected',
      'Open Edgehook',
      'Pause delivery',
      'Open data folder',
      'Start at login',
      'Quit Edgehook',
    ]);
    expect(t.tray().item('login').checked).toBe(true);
    t.tray().click('open');
    t.tray().click('data');
    t.tray().click('login');
    t.tray().click('quit');
    expect(t.actions.open).toHaveBeenCalledTimes(1);
    expect(t.actions.openDataFolder).toHaveBeenCalledTimes(1);
    expect(t.actions.setStartAtLogin).toHaveBeenCalledWith(false);
    expect(t.actions.quit).toHaveBeenCalledTimes(1);
  });

  it('pauses and resumes delivery from the menu, and shows it', () => {
    const t = setup();
    t.controller.start();
    t.tray().click('pause');
    expect(t.agent.pauseDelivery).toHaveBeenCalledTimes(1);
    expect(t.tray().item('pause').checked).toBe(true);
    expect(t.tray().image).toBe('paused');
    t.tray().click('pause');
    expect(t.agent.resumeDelivery).toHaveBeenCalledTimes(1);
    expect(t.tray().item('pause').checked).toBe(false);
    expect(t.tray().image).toBe('connected');
  });

  it('rebuilds the menu only when what it shows changes', () => {
    const t = setup();
    t.controller.start();
    t.agent.statusValue = makeStatus({ pending: 5 });
    vi.advanceTimersByTime(POLL_INTERVAL_MS * 5);
    expect(t.tray().setContextMenu).toHaveBeenCalledTimes(1);
    t.setStartAtLogin(false);
    t.controller.settingsChanged();
    expect(t.tray().setContextMenu).toHaveBeenCalledTimes(2);
    expect(t.tray().item('login').checked).toBe(false);
  });

  it('opens the window on a tray click', () => {
    const t = setup();
    t.controller.start();
    t.tray().emit('click');
    expect(t.actions.open).toHaveBeenCalledTimes(1);
  });

  it('survives a failing status() and stops polling on stop()', () => {
    const onError = vi.fn();
    const t = setup({ onError });
    t.controller.start();
    t.agent.status.mockImplementation(() => {
      throw new Error('database closed');
    });
    vi.advanceTimersByTime(POLL_INTERVAL_MS);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(t.tray().image).toBe('connected');
    t.controller.stop();
    expect(t.tray().destroy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(POLL_INTERVAL_MS * 3);
    expect(onError).toHaveBeenCalledTimes(1);
  });
});
