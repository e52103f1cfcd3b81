import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { AgentStatus } from '../../../src/agent/agent-status.js';
import { ROOT, type AgentProcess } from '../../helpers/agent.js';
import { sleep, waitFor } from '../../helpers/net.js';

/** Shared pieces of the durability scenarios: cleanup, seeded randomness, publishing, checks. */

export const BIN = join(ROOT, 'bin/edgehook.js');

/**
 * Things to undo, in reverse order; one failing or hanging step (given 10 s) does not keep the
 * others from running.
 */
export class Cleanup {
  private readonly steps: (() => unknown)[] = [];
  add(step: () => unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step),
          new Promise(
            (_, reject) =>
              (timer = setTimeout(
                () => reject(new Error(`took over 10 s: ${String(step).slice(0, 80)}`)),
                10_000,
              )),
          ),
        ]);
      } catch (err) {
        console.error('cleanup step failed:', (err as Error).message);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

export function tempDirIn(cleanup: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A seeded generator (mulberry32), so a failing random schedule can be replayed:
 * EDGEHOOK_DURABILITY_SEED=<the seed printed by the test>.
 */
export function seededRandom(label: string): {
  seed: number;
  next: () => number;
  between: (lo: number, hi: number) => number;
} {
  const fromEnv = Number(process.env.EDGEHOOK_DURABILITY_SEED);
  const seed = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`[${label}] random seed ${seed} (replay with EDGEHOOK_DURABILITY_SEED=${seed})`);
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, between: (lo, hi) => lo + Math.floor(next() * (hi - lo)) };
}

/** A device publishing to the broker, with its own persistent session. */
export async function device(url: string, clientId: string, cleanup: Cleanup): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 200 });
  cleanup.add(() => client.endAsync(true));
  return client;
}

/**
 * Publishes probes on `topic` until one reaches the receiver (any answer: signatures are
 * asserted by the tests): the agent's subscription, and its MQTT session, are in place.
 * Returns how many probes were published (each one is an event the agent stores).
 */
export async function waitSubscribed(
  dev: MqttClient,
  receiver: { requests: readonly { json: { topic?: unknown } }[] },
  topic: string,
): Promise<number> {
  let probes = 0;
  await waitFor(
    async () => {
      await dev.publishAsync(topic, JSON.stringify({ probe: probes++ }), { qos: 1 });
      return receiver.requests.some((r) => r.json.topic === topic);
    },
    'the agent to subscribe',
    20_000,
    250,
  );
  return probes;
}

export interface PaceOptions {
  /** Outstanding QoS 1 publishes at once. */
  window?: number;
  /** Upper bound on messages per second, asked before each window (absent: as fast as the broker acks). */
  ratePerSec?: number | (() => number);
  /** Checked before each window: true holds publishing back for a moment. */
  hold?: (published: number) => boolean;
  /** Checked before each window: true ends publishing early. */
  stop?: () => boolean;
}

/**
 * Publishes `count` QoS 1 messages made by `make(i)`, in order, keeping a window of publishes
 * outstanding and at most `ratePerSec`. `progress.published` is how many the broker has acked.
 */
export async function publishPaced(
  client: MqttClient,
  count: number,
  make: (i: number) => { topic: string; payload: string | Buffer },
  options: PaceOptions = {},
  progress: { published: number } = { published: 0 },
): Promise<void> {
  const window = options.window ?? 50;
  let windowStarted = 0;
  for (let i = 0; i < count; i += window) {
    while (options.hold?.(progress.published) && !options.stop?.()) await sleep(20);
    if (options.stop?.()) return;
    const rate = typeof options.ratePerSec === 'function' ? options.ratePerSec() : options.ratePerSec;
    if (rate) {
      const due = windowStarted + (window / rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    windowStarted = Date.now();
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + window); j++) {
      const m = make(j);
      batch.push(client.publishAsync(m.topic, m.payload, { qos: 1 }));
    }
    await Promise.all(batch);
    progress.published = Math.min(count, i + window);
  }
}

/** received = delivered + pending + failed + rejected + dropped + expired + deleted + unrouted (README, Admin API). */
export function expectCountsAddUp(outbox: AgentStatus['outbox']): void {
  const { received, delivered, pending, failed, rejected, dropped, expired, deleted, unrouted } = outbox;
  expect({
    received,
    sum: delivered + pending + failed + rejected + dropped + expired + deleted + unrouted,
  }).toEqual({ received, sum: received });
}

/** `PRAGMA integrity_check` of a database file, opened read-only (the agent must be stopped). */
export function integrityCheck(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join('; ');
  } finally {
    db.close();
  }
}

/**
 * Copies a database with its -wal (and -shm) as a crash left them, into a fresh directory, so
 * it can be opened (and recovered) without touching the agent's own files.
 */
export function snapshotDb(dataDir: string, into: string): string {
  for (const suffix of ['', '-wal', '-shm']) {
    const from = join(dataDir, `edgehook.db${suffix}`);
    if (existsSync(from)) copyFileSync(from, join(into, `edgehook.db${suffix}`));
  }
  return join(into, 'edgehook.db');
}

/** Resident memory of a process, in KiB, from /proc/<pid>/status (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

// The user's EDGEHOOK_* variables must not change what the tests see.
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EDGEHOOK_')));

/** `node bin/edgehook.js …` as a user runs it; killed after `timeoutMs` (then code is null). */
export function cli(args: string[], cwd: string, timeoutMs = 30_000): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env: CLEAN_ENV, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
        const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
        resolve({ code, signal: e?.signal ?? null, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

/** A Node.js stack frame ("    at fn (file:1:2)"): none may reach a user for an expected error. */
export const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

/** A request to a running agent's admin API with its token, as `curl -H "Authorization: Bearer …"` would. */
export async function adminApi<T = unknown>(
  agent: AgentProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const token = readFileSync(join(agent.dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${agent.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * Waits until `done()`; fails as soon as `progress()` has not moved for `stallMs` (a stall is a
 * failure in its own right, and saying so early keeps a failing run short), or after `timeoutMs`.
 */
export async function waitWithProgress(
  done: () => boolean | Promise<boolean>,
  progress: () => number | Promise<number>,
  what: string,
  options: {
    stallMs?: number;
    timeoutMs?: number;
    intervalMs?: number;
    describe?: () => string | Promise<string>;
  } = {},
): Promise<void> {
  const { stallMs = 15_000, timeoutMs = 120_000, intervalMs = 100 } = options;
  const started = Date.now();
  let last = await progress();
  let movedAt = Date.now();
  for (;;) {
    if (await done()) return;
    const now = await progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    }
    const detail = async () => (options.describe ? ` (${await options.describe()})` : '');
    if (Date.now() - movedAt > stallMs)
      throw new Error(
        `stalled waiting for ${what}: no progress for ${stallMs} ms, stuck at ${last}${await detail()}`,
      );
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}, at ${last}${await detail()}`);
    await sleep(intervalMs);
  }
}
