import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * The sd_notify protocol for `Type=notify` units (systemd.service(5), sd_notify(3)): READY=1
 * once the agent is up, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 when it starts to stop.
 *
 * Why a child process: the protocol is one datagram on the AF_UNIX socket named by
 * NOTIFY_SOCKET, and Node has no unix datagram sockets (dgram is UDP only). A native addon
 * would bring a compiler to every install; `systemd-notify` is on every systemd machine. The
 * cost is one short fork+exec per message: at start, at stop, and every WatchdogSec/2 (15 s
 * with the shipped unit). The unit sets NotifyAccess=all because the sender is not the main
 * PID. systemd-notify (since v246) waits for systemd to take the message (BARRIER=1) before it
 * exits, which closes the old race where systemd could not tell which unit a message from an
 * already-exited process belonged to.
 *
 * Without NOTIFY_SOCKET (not under systemd, or Type=simple) every method does nothing.
 */

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** The sender program; tests put a recorder here. Default: systemd-notify from PATH. */
  command?: string;
  /** This process's pid, compared with WATCHDOG_PID. */
  pid?: number;
}

export class SystemdNotifier {
  private readonly env: NodeJS.ProcessEnv;
  private readonly command: string;
  private readonly pid: number;
  private chain: Promise<void> = Promise.resolve();
  private watchdogTimer: NodeJS.Timeout | undefined;
  private broken = false;

  constructor(private readonly options: SystemdNotifierOptions = {}) {
    this.env = options.env ?? process.env;
    this.command = options.command ?? 'systemd-notify';
    this.pid = options.pid ?? process.pid;
  }

  /** Whether a service manager listens (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return !!this.env.NOTIFY_SOCKET && !this.broken;
  }

  /**
   * The watchdog ping interval in ms, or undefined when systemd expects none: WATCHDOG_USEC unset
   * or invalid, or WATCHDOG_PID names another process (sd_watchdog_enabled(3)).
   */
  get watchdogIntervalMs(): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!this.env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
    const forPid = this.env.WATCHDOG_PID;
    if (forPid && Number(forPid) !== this.pid) return undefined;
    // Half the timeout, as sd_watchdog_enabled(3) recommends: one late ping is not a restart.
    return Math.max(1, Math.floor(usec / 2000));
  }

  /** READY=1, with a one-line STATUS= that `systemctl status edgehook` shows. */
  ready(status?: string): Promise<void> {
    return this.send(['--ready', ...(status ? [`--status=${oneLine(status)}`] : [])]);
  }

  status(text: string): Promise<void> {
    return this.send([`--status=${oneLine(text)}`]);
  }

  /**
   * STOPPING=1: systemd shows "deactivating". The watchdog keeps pinging until stopWatchdog():
   * a clean stop that waits for requests in flight is not a hang.
   */
  stopping(status?: string): Promise<void> {
    return this.send(['STOPPING=1', ...(status ? [`STATUS=${oneLine(status)}`] : [])]);
  }

  /**
   * Pings WATCHDOG=1 every WATCHDOG_USEC/2. The ping runs on the event loop, so a loop stuck in
   * a synchronous call (a dying SD card under SQLite) stops the pings and systemd restarts the
   * agent. The timer does not keep the process alive.
   */
  startWatchdog(): void {
    const interval = this.watchdogIntervalMs;
    if (!this.enabled || interval === undefined || this.watchdogTimer) return;
    this.watchdogTimer = setInterval(() => void this.send(['WATCHDOG=1']), interval);
    this.watchdogTimer.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }

  /** Resolves when every message sent so far has been handed over (or failed). */
  whenSent(): Promise<void> {
    return this.chain;
  }

  /**
   * One message at a time, in order (READY before the first WATCHDOG, STOPPING after them).
   * Failures are logged, never thrown: a missing systemd-notify must not stop the agent itself.
   */
  private send(args: string[]): Promise<void> {
    if (!this.enabled) return this.chain;
    this.chain = this.chain.then(
      () =>
        new Promise<void>((resolve) => {
          execFile(this.command, args, { env: this.env, timeout: 10_000 }, (err, _stdout, stderr) => {
            if (err) this.onFailure(err as NodeJS.ErrnoException, args, stderr);
            resolve();
          });
        }),
    );
    return this.chain;
  }

  private onFailure(err: NodeJS.ErrnoException, args: string[], stderr: string): void {
    const { logger } = this.options;
    if (err.code === 'ENOENT') {
      // Nothing else will work either; with Type=notify systemd will time the start out.
      this.broken = true;
      this.stopWatchdog();
      logger?.error(
        { command: this.command },
        'NOTIFY_SOCKET is set but systemd-notify was not found: systemd will not see the agent as started (install systemd, or use Type=simple)',
      );
      return;
    }
    logger?.warn({ message: args.join(' '), err: (stderr || err.message).trim() }, 'sd_notify failed');
  }
}

/** sd_notify lines are newline-separated assignments: a newline inside STATUS would end it. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
