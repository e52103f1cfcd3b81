// Small helpers shared by the benchmark's orchestrator and its child processes.
import { createServer } from 'node:net';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Monotonic clock in microseconds (CLOCK_MONOTONIC: the same clock in every process here). */
export function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Aborted when the whole run goes over its time limit: every wait then ends at once. */
export const runAbort = new AbortController();

/** An error that ends a waitFor() at once instead of being retried. */
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws `what`).
 * @template T
 * @param {string} what
 * @param {() => T | Promise<T>} check
 * @param {{ timeoutMs: number, intervalMs?: number }} opts
 * @returns {Promise<T>}
 */
export async function waitFor(what, check, { timeoutMs, intervalMs = 50 }) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    if (runAbort.signal.aborted)
      throw new Error(`the run went over its time limit while waiting for ${what}`);
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (err?.fatal) throw err;
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr.message})` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** VmRSS and VmHWM of a process in bytes, from /proc/<pid>/status; undefined when gone. */
export function readRss(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function readCpuSeconds(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Apparent size of every file in a directory (not recursive), by name, and the total. */
export function dirBytes(dir) {
  const files = {};
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    if (!st.isFile()) continue;
    files[name] = st.size;
    total += st.size;
  }
  return { total, files };
}

/** p50/p99/max/mean of a list of numbers (copied and sorted). */
export function summarize(values) {
  if (values.length === 0) return { n: 0, p50: null, p90: null, p99: null, max: null, mean: null };
  const s = Float64Array.from(values).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1], mean: sum / s.length };
}

const PAD = 'x'.repeat(256);
export const PAYLOAD_BYTES = 170;

/**
 * A 170-byte JSON payload carrying the publish time `t` (monotonic µs), a running index `i` and
 * its kind `k` ("d" measured data, "w" warm-up, ignored by the statistics).
 */
export function makePayload(i, kind) {
  const head = `{"t":${nowUs()},"i":${i},"k":"${kind}","dev":"sensor-0042","temp":21.53,"hum":48.2,"bat":3.71,"pad":"`;
  const padLen = PAYLOAD_BYTES - head.length - 2;
  return Buffer.from(`${head}${PAD.slice(0, Math.max(0, padLen))}"}`);
}

/**
 * Parent side of the small request/response protocol spoken with forked helpers
 * (bench/procs/*.js): `call(cmd, args)` resolves with the child's answer or rejects after
 * `timeoutMs`.
 * @param {import('node:child_process').ChildProcess} child
 */
export function rpcClient(child, name) {
  let nextId = 1;
  const waiting = new Map();
  child.on('message', (msg) => {
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    clearTimeout(w.timer);
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new Error(`${name}: ${msg.error}`));
  });
  child.on('error', () => undefined); // a send on a closed channel: the call is rejected below
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`${name} exited (${code ?? signal}) during a call`));
    }
    waiting.clear();
  });
  return {
    call(cmd, args = {}, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${name}: "${cmd}" got no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!child.connected) {
          clearTimeout(timer);
          reject(new Error(`${name} is gone (cannot call "${cmd}")`));
          return;
        }
        waiting.set(id, { resolve, reject, timer });
        child.send({ id, cmd, args });
      });
    },
  };
}

/**
 * Child side: answers the parent's calls with `handlers[cmd](args)`, and exits when the parent
 * goes away (so a killed benchmark leaves no helper behind).
 * @param {Record<string, (args: any) => any>} handlers
 */
export function rpcServe(handlers) {
  process.on('message', async (msg) => {
    try {
      const fn = handlers[msg.cmd];
      if (!fn) throw new Error(`unknown command ${msg.cmd}`);
      const result = await fn(msg.args ?? {});
      process.send?.({ id: msg.id, ok: true, result });
    } catch (err) {
      process.send?.({ id: msg.id, ok: false, error: err?.message ?? String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** Busy and steal jiffies of the whole machine, from the "cpu" line of /proc/stat. */
function machineJiffies() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = line;
  return { busy: user + nice + system + irq + softirq, steal: steal ?? 0 };
}

function pidJiffies(pid) {
  const s = readCpuSeconds(pid);
  return s === undefined ? undefined : Math.round(s * 100);
}

/**
 * Watches how much CPU the rest of the machine uses while the benchmark runs: the machine's busy
 * time minus that of the benchmark's own processes (`pids()`), sampled every 250 ms. Figures
 * taken while something else keeps a core busy are not comparable with quiet ones.
 * `snapshot()` returns cumulative seconds; `between(a, b)` turns two snapshots into averages.
 */
export function cpuMonitor(pids) {
  // A process first seen at a sample started within the last interval: all its CPU is new.
  const last = new Map([[process.pid, pidJiffies(process.pid) ?? 0]]);
  let prev = machineJiffies();
  let foreign = 0;
  let ours = 0;
  let steal = 0;
  const sample = () => {
    const now = machineJiffies();
    let d = 0;
    for (const pid of [process.pid, ...pids()]) {
      const j = pidJiffies(pid);
      if (j === undefined) continue;
      d += j - (last.get(pid) ?? 0);
      last.set(pid, j);
    }
    const busy = now.busy - prev.busy;
    ours += d;
    foreign += Math.max(0, busy - d);
    steal += now.steal - prev.steal;
    prev = now;
  };
  const timer = setInterval(sample, 250);
  timer.unref();
  return {
    snapshot() {
      sample();
      return { at: Date.now(), foreign: foreign / 100, ours: ours / 100, steal: steal / 100 };
    },
    between(a, b) {
      const secs = (b.at - a.at) / 1000 || 1;
      return {
        seconds: secs,
        foreignCores: (b.foreign - a.foreign) / secs,
        oursCores: (b.ours - a.ours) / secs,
        stealCores: (b.steal - a.steal) / secs,
      };
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** The value after `--name` in `args` (a command line's options), or `dflt`. */
export function argValue(args, name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}
