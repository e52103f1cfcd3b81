// Every process the benchmark starts goes through here, so that all of them are stopped at the
// end, on failure, on Ctrl-C and on the global time limit.
import { spawn, fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { createWriteStream } from 'node:fs';
import { sleep } from './util.js';

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/** Scheduling priority (nice value) for every process started here; undefined leaves it alone. */
let priority;

/** On a shared machine, `--priority -10` (root) keeps other people's work from skewing the figures. */
export function setBenchPriority(value) {
  priority = value;
  setPriority(process.pid, value);
}

function track(child) {
  if (priority !== undefined && child.pid !== undefined) {
    try {
      setPriority(child.pid, priority);
    } catch {
      /* not allowed: the figures are just noisier */
    }
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Process ids of everything started here that still runs. */
export function livePids() {
  return [...live].map((c) => c.pid).filter((p) => p !== undefined);
}

/**
 * Spawns a program; its stdout/stderr go to `logFile` and the last 64 KiB of stderr stay in
 * `child.stderrText` for error messages.
 * @param {string} cmd @param {string[]} args
 * @param {{ cwd?: string, logFile: string, env?: NodeJS.ProcessEnv }} opts
 */
export function spawnTracked(cmd, args, opts) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(opts.logFile);
  /** @type {any} */ (child).stderrText = '';
  /** @type {any} */ (child).stdoutText = '';
  child.stdout.on('data', (c) => {
    log.write(c);
    const self = /** @type {any} */ (child);
    self.stdoutText = (self.stdoutText + c.toString()).slice(-65536);
  });
  child.stderr.on('data', (c) => {
    log.write(c);
    const self = /** @type {any} */ (child);
    self.stderrText = (self.stderrText + c.toString()).slice(-65536);
  });
  child.once('exit', () => log.end());
  return track(child);
}

/** Forks one of bench/procs/*.js (IPC channel; it exits by itself if this process goes away). */
export function forkTracked(modulePath, logFile) {
  const child = fork(modulePath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const log = createWriteStream(logFile);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return track(child);
}

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = exited(child);
  const t = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([done, t])) === 'timeout') {
    child.kill('SIGKILL');
    await Promise.race([done, sleep(2000)]);
  }
}

/** Stops everything still running, in parallel. */
export async function stopAll(graceMs = 3000) {
  await Promise.all([...live].map((c) => stopProcess(c, graceMs).catch(() => undefined)));
}

/** Last resort (process 'exit' handler, synchronous): SIGKILL whatever is left. */
export function killAllNow() {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
