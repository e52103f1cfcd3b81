import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { skipNote } from '../helpers/skip-note.js';
import { SystemdNotifier } from '../../src/systemd/notify.js';
import { tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { FakeNotifySocket, haveSystemdNotify } from './notify-socket.js';
import { captureLog } from '../helpers/log.js';

/** sd_notify through systemd-notify (src/systemd/notify.ts): what is sent, when, and in which order. */

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A systemd-notify stand-in that appends "<NOTIFY_SOCKET> <args>" to a file, one call a line. */
function recorder(): { command: string; calls: () => string[] } {
  const dir = tempDir('edgehook-notify-');
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const command = join(dir, 'systemd-notify');
  const log = join(dir, 'calls.log');
  writeFileSync(command, `#!/bin/sh\nprintf '%s %s\\n' "$NOTIFY_SOCKET" "$*" >> '${log}'\n`);
  chmodSync(command, 0o755);
  return { command, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

describe('SystemdNotifier', () => {
  it('does nothing when NOTIFY_SOCKET is unset (not under systemd, or Type=simple)', async () => {
    const r = recorder();
    const n = new SystemdNotifier({ env: { WATCHDOG_USEC: '200000' }, command: r.command });
    expect(n.enabled).toBe(false);
    await n.ready('up');
    n.startWatchdog();
    await n.stopping();
    await n.whenSent();
    expect(r.calls()).toEqual([]);
  });

  it('sends READY=1 with a status line, then STOPPING=1, in order, to the socket systemd named', async () => {
    const r = recorder();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/systemd/notify' }, command: r.command });
    expect(n.enabled).toBe(true);
    void n.ready('running; admin UI\nhttp://127.0.0.1:8787');
    void n.status('draining');
    await n.stopping('stopping');
    expect(r.calls()).toEqual([
      '/run/systemd/notify --ready --status=running; admin UI http://127.0.0.1:8787',
      '/run/systemd/notify --status=draining',
      '/run/systemd/notify STOPPING=1 STATUS=stopping',
    ]);
  });

  it('pings the watchdog at half of WATCHDOG_USEC until stopped', async () => {
    const r = recorder();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const n = new SystemdNotifier({
      env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '30000000' },
      command: r.command,
    });
    expect(n.watchdogIntervalMs).toBe(15_000);
    n.startWatchdog();
    vi.advanceTimersByTime(14_999);
    await n.whenSent();
    expect(r.calls()).toEqual([]);
    vi.advanceTimersByTime(1 + 2 * 15_000);
    await n.whenSent();
    expect(r.calls()).toEqual(['/s WATCHDOG=1', '/s WATCHDOG=1', '/s WATCHDOG=1']);

    n.startWatchdog(); // already running: no second timer
    vi.advanceTimersByTime(15_000);
    await n.whenSent();
    expect(r.calls()).toHaveLength(4);

    n.stopWatchdog();
    vi.advanceTimersByTime(60_000);
    await n.whenSent();
    expect(r.calls()).toHaveLength(4);
  });

  it('has no watchdog when WATCHDOG_USEC is missing or invalid, or WATCHDOG_PID names another process', () => {
    const at = (env: NodeJS.ProcessEnv) =>
      new SystemdNotifier({ env: { NOTIFY_SOCKET: '/s', ...env }, pid: 42 }).watchdogIntervalMs;
    expect(at({})).toBeUndefined();
    expect(at({ WATCHDOG_USEC: 'soon' })).toBeUndefined();
    expect(at({ WATCHDOG_USEC: '0' })).toBeUndefined();
    expect(at({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '41' })).toBeUndefined();
    expect(at({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42' })).toBe(500);
  });

  it('when systemd-notify is missing: says so once, then stays quiet instead of failing the agent', async () => {
    const { lines, logger: log } = captureLog();
    const n = new SystemdNotifier({
      env: { NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '1000000' },
      command: '/nonexistent/systemd-notify',
      logger: log,
    });
    await n.ready();
    expect(n.enabled).toBe(false);
    await n.stopping();
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/systemd-notify was not found/);
  });

  // Needs systemd-notify; skipped only outside CI on a machine without systemd (haveSystemdNotify).
  it.skipIf(!haveSystemdNotify())(
    skipNote(
      'reaches a real notification socket through the real systemd-notify',
      !haveSystemdNotify(),
      'systemd-notify',
    ),
    async () => {
      const dir = tempDir('edgehook-sock-');
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const socket = await new FakeNotifySocket(dir).start();
      cleanup.push(() => socket.stop());
      const n = new SystemdNotifier({
        env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '400000' },
      });
      await n.ready('running');
      n.startWatchdog();
      await waitFor(() => socket.having('WATCHDOG=1').length >= 2, 'two watchdog pings');
      n.stopWatchdog();
      await n.stopping();
      expect(socket.messages[0]).toBe('READY=1\nSTATUS=running');
      expect(socket.messages.at(-1)).toBe('STOPPING=1');
    },
  );
});
