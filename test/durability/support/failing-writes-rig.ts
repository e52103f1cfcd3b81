import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { AgentStatus } from '../../../src/agent/agent-status.js';
import { AgentProcess, SECRET } from '../../helpers/agent.js';
import { startMosquitto } from '../../helpers/mosquitto.js';
import { sleep, waitFor } from '../../helpers/net.js';
import { type EioInjector, buildEioInjector } from './eio-injector.js';
import {
  type Cleanup,
  device,
  expectCountsAddUp,
  integrityCheck,
  publishPaced,
  tempDirIn,
  waitWithProgress,
} from './rig.js';
import { mountSmallDisk, type SmallDisk } from '../../helpers/small-disk.js';
import { TroubleServer } from './trouble-server.js';

/**
 * The real agent process on a disk that fails: a small tmpfs as its data directory (SQLITE_FULL)
 * or the EIO shim preloaded (SQLITE_IOERR), with a real Mosquitto, a device publishing QoS 1
 * readings and a receiver that can be switched between 200 and 503. README, Guarantees.
 */

/** The disk's state in GET /api/status (README, Admin API). */
export interface DiskStatus {
  state: 'ok' | 'full';
  freeBytes: number;
  reserveBytes: number;
}
export type Status = AgentStatus & { outbox: AgentStatus['outbox'] & { disk?: DiskStatus } };

export const MiB = 1024 * 1024;
export const FULL_LINE = 'disk full: holding';
export const ROOM_LINE = 'disk has room again: ingest resumed';

export interface RigOptions {
  name: string;
  whenFull?: 'drop-oldest' | 'stop-ingest';
  /** Size of the tmpfs mounted as the data directory (absent: the ordinary temp dir). */
  diskBytes?: number;
  /** Preload the EIO shim for files whose path contains "edgehook.db". */
  eio?: boolean;
  /** storage.reserveBytes and storage.minFreeBytes: set with `diskBytes` only (defaults otherwise). */
  reserveBytes?: number;
  minFreeBytes?: number;
  keepDeliveredHours?: number;
  /** Does the receiver answer 200 from the start (else 503 until `receiverUp()`)? */
  answering?: boolean;
}

export interface Rig {
  agent: AgentProcess;
  receiver: TroubleServer;
  dev: MqttClient;
  disk: SmallDisk | undefined;
  eio: EioInjector | undefined;
  reserveBytes: number;
  probes: number;
  /** Every status fetched, to check afterwards that each one added up. */
  seen: Status['outbox'][];
  status(): Promise<Status>;
  receiverUp(): void;
  receiverDown(): void;
  /** Publishes readings `from`…`from+count-1` (QoS 1, in order); `progress.published` counts broker acks. */
  publish(from: number, count: number, progress?: { published: number }, ratePerSec?: number): Promise<void>;
  /** Distinct readings the receiver accepted, in the order of their first 2xx. */
  readings(): number[];
  /** Lines of the agent's log (pino JSON on a pipe) whose msg contains `text`. */
  logged(text: string): number;
}

const READING = 'r'.repeat(900);

/** Starts everything; returns a reason instead when the small disk cannot be mounted here. */
export async function startRig(
  cleanup: Cleanup,
  o: RigOptions,
): Promise<{ rig: Rig; skipReason?: undefined } | { rig?: undefined; skipReason: string }> {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  let answering = o.answering ?? true;
  const receiver = await new TroubleServer(SECRET).start();
  cleanup.add(() => receiver.stop());
  receiver.behave = (_req, res) => res.writeHead(answering ? 200 : 503).end();

  const dir = tempDirIn(cleanup, `edgehook-dur-fw-${o.name}-`);
  let disk: SmallDisk | undefined;
  if (o.diskBytes) {
    const mounted = mountSmallDisk(join(dir, 'data'), o.diskBytes);
    if (!mounted.disk) return { skipReason: mounted.skipReason };
    disk = mounted.disk;
    cleanup.add(() => disk!.cleanup());
  }
  const reserveBytes = o.reserveBytes ?? 1 * MiB;
  const agent = new AgentProcess(
    dir,
    `agentId: gw-fw
mqtt: { url: '${mosq.url}', clientId: edgehook-fw-${o.name} }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET}, timeoutMs: 2000 } ]
storage:
  maxBytes: 64MiB
  whenFull: ${o.whenFull ?? 'drop-oldest'}
  keepDeliveredHours: ${o.keepDeliveredHours ?? 24}
${o.diskBytes ? `  reserveBytes: ${reserveBytes}\n  minFreeBytes: ${o.minFreeBytes ?? 256 * 1024}\n` : ''}admin: { port: 0 }
logLevel: info
`,
  );
  let eio: EioInjector | undefined;
  if (o.eio) {
    eio = buildEioInjector({ match: ['edgehook.db'] });
    cleanup.add(() => eio!.cleanup());
    agent.env = eio.env;
  }
  // Added last: runs first, so the agent is gone before its disk is unmounted.
  cleanup.add(() => agent.kill());
  await agent.start();
  const dev = await device(mosq.url, `device-fw-${o.name}`, cleanup);

  const seen: Status['outbox'][] = [];
  const status = async (): Promise<Status> => {
    const st = (await agent.status()) as Status;
    seen.push(st.outbox);
    return st;
  };
  // Subscribed once a probe is in the outbox.
  let probes = 0;
  await waitFor(
    async () => {
      await dev.publishAsync('d/probe', '{"probe":true}', { qos: 1 });
      probes++;
      return (await status()).outbox.received > 0;
    },
    'the agent to subscribe',
    20_000,
    250,
  );
  const rig: Rig = {
    agent,
    receiver,
    dev,
    disk,
    eio,
    reserveBytes,
    get probes() {
      return probes;
    },
    seen,
    status,
    receiverUp: () => {
      answering = true;
    },
    receiverDown: () => {
      answering = false;
    },
    publish: (from, count, progress, ratePerSec) =>
      publishPaced(
        dev,
        count,
        (k) => ({ topic: 'd/reading', payload: JSON.stringify({ i: from + k, reading: READING }) }),
        { window: 50, ...(ratePerSec ? { ratePerSec } : {}) },
        progress,
      ),
    readings() {
      const firsts: number[] = [];
      const got = new Set<number>();
      for (const r of receiver.accepted)
        if (r.topic === 'd/reading' && r.i !== undefined && !got.has(r.i)) {
          got.add(r.i);
          firsts.push(r.i);
        }
      return firsts;
    },
    logged(text) {
      let n = 0;
      for (const line of agent.output.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          if (String((JSON.parse(line) as { msg?: unknown }).msg).includes(text)) n++;
        } catch {
          /* not a log line */
        }
      }
      return n;
    },
  };
  return { rig };
}

/** The agent process is still running: no crash, no exit. */
export function expectAlive(rig: Rig): void {
  expect(
    { exitCode: rig.agent.proc?.exitCode ?? null, signal: rig.agent.proc?.signalCode ?? null },
    `the agent died:\n${rig.agent.output.slice(-3000)}`,
  ).toEqual({ exitCode: null, signal: null });
}

/** The reserve file in the data directory, in bytes (0 when absent). */
export function reserveFileBytes(rig: Rig): number {
  const f = join(rig.agent.dataDir, 'reserve.bin');
  return existsSync(f) ? statSync(f).size : 0;
}

/** Events (all, and readings) in the outbox file of a stopped agent, read-only. */
export function eventsInFile(rig: Rig): { all: number; readings: number } {
  const db = new Database(join(rig.agent.dataDir, 'edgehook.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT count(*) AS "all", count(*) FILTER (WHERE topic = 'd/reading') AS readings FROM events`,
      )
      .get() as { all: number; readings: number };
  } finally {
    db.close();
  }
}

/**
 * Waits for a status that satisfies `check`. Fails at once, with the agent's last output, if the
 * agent exits meanwhile; on timeout it describes the last status seen.
 */
export async function waitForStatus(
  rig: Rig,
  check: (st: Status) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let last: Status | undefined;
  let lastError: unknown;
  for (;;) {
    expectAlive(rig);
    try {
      last = await rig.status();
      if (check(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      expectAlive(rig);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify({
          mqtt: last?.mqtt,
          outbox: last?.outbox,
        })}${lastError ? `; last error: ${(lastError as Error).message}` : ''}`,
      );
    }
    await sleep(100);
  }
}

/** Like waitFor, but fails at once if the agent exits meanwhile. */
export function waitAlive(rig: Rig, check: () => boolean, what: string, timeoutMs = 20_000): Promise<Status> {
  return waitForStatus(rig, () => check(), what, timeoutMs);
}

/** Waits until readings 0…total-1 have all reached the receiver; a 15 s stall fails early. */
export async function waitAllDelivered(rig: Rig, total: number, timeoutMs = 45_000): Promise<void> {
  await waitWithProgress(
    () => rig.readings().length >= total,
    () => rig.readings().length,
    `all ${total} readings delivered`,
    {
      stallMs: 15_000,
      timeoutMs,
      describe: async () => {
        expectAlive(rig);
        const st = await rig.status();
        return JSON.stringify({ mqtt: st.mqtt, outbox: st.outbox });
      },
    },
  );
}

/**
 * The promise after the fault has passed: every reading arrived, in order (a redelivered
 * duplicate may follow, never a gap or a swap), each signed; nothing dropped; every status
 * added up; no uncaught error; a clean exit on SIGTERM; integrity_check ok.
 */
export async function expectPromiseKept(rig: Rig, total: number): Promise<void> {
  expect(rig.readings()).toEqual([...Array(total).keys()]);
  const unsigned = rig.receiver.requests.filter((r) => !r.verified).length;
  expect(unsigned, 'requests whose signature did not verify').toBe(0);
  const end = await waitForStatus(rig, (s) => s.outbox.pending === 0, 'the outbox to settle', 15_000);
  expect(end.outbox.dropped, 'events dropped although they fit in storage.maxBytes').toBe(0);
  expect(end.outbox.failed).toBe(0);
  expect(end.mqtt.holding).toBe(false);
  for (const o of rig.seen) expectCountsAddUp(o);
  expectAlive(rig);
  expect(rig.agent.output).not.toMatch(/uncaught|unhandled/i);
  expect(await rig.agent.signal('SIGTERM'), rig.agent.output.slice(-3000)).toBe(0);
  expect(integrityCheck(join(rig.agent.dataDir, 'edgehook.db'))).toBe('ok');
}
