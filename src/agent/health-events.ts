import { createHash } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { NewEvent, OutboxStore } from '../outbox/outbox-store.js';
import { VERSION } from '../version.js';
import type { AgentStatus } from './agent-status.js';
import type { PreviousStop } from './run-marker.js';

/**
 * Health as webhooks (README "Health as webhooks"): the agent's own events, stored through the
 * outbox's ordinary append, so they are routed by endpoint `types`, signed, durable and ordered
 * among the sensor events like any other.
 */

export const HEARTBEAT_TYPE = 'edgehook.heartbeat';
export const STARTED_TYPE = 'edgehook.agent.started';
export const HEARTBEAT_TOPIC = 'edgehook/heartbeat';
export const STARTED_TOPIC = 'edgehook/agent/started';

export interface StartedData {
  version: string;
  configSha256: string;
  previousStop: PreviousStop;
}

export interface HeartbeatData {
  version: string;
  uptimeSeconds: number;
  mqttConnected: boolean;
  pending: number;
  oldestPendingAgeSeconds: number | null;
  bytes: number;
  maxBytes: number;
  diskFreeBytes: number | null;
  endpoints: { id: string; state: string; pending: number }[];
}

/** An event of the agent's own, shaped as ingest shapes an MQTT message's. */
export function healthEvent(type: string, topic: string, data: object, receivedAt: number): NewEvent {
  const json = JSON.stringify(data);
  return { type, topic, receivedAt, payload: Buffer.from(json), data: { kind: 'json', json } };
}

/**
 * Stores one event of the agent's own through the outbox's ordinary append, and asks for the
 * WAL sync an ingest commit gets (a power cut right after must not lose it). Returns whether it
 * was stored: with storage.whenFull stop-ingest and no room, it is not.
 */
export function storeHealthEvent(outbox: OutboxStore, event: NewEvent): boolean {
  const stored = outbox.append([event]).stored > 0;
  outbox.afterDurable(() => undefined);
  return stored;
}

/**
 * SHA-256 (hex) of the config file's bytes, as `sha256sum` prints it; without a file, of the
 * effective configuration as JSON with sorted keys.
 */
export function configSha256(config: Config, configFile: string | undefined): string {
  const h = createHash('sha256');
  if (configFile !== undefined) {
    try {
      return h.update(readFileSync(configFile)).digest('hex');
    } catch {
      // Not written yet (the first UI edit writes it): the effective configuration below.
    }
  }
  return h.update(sortedJson(config)).digest('hex');
}

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function heartbeatData(status: AgentStatus, diskFreeBytes: number | null): HeartbeatData {
  return {
    version: VERSION,
    uptimeSeconds: status.agent.uptimeSeconds,
    mqttConnected: status.mqtt.connected,
    pending: status.outbox.pending,
    oldestPendingAgeSeconds: status.outbox.oldestPendingAgeSeconds,
    bytes: status.outbox.bytes,
    maxBytes: status.outbox.maxBytes,
    diskFreeBytes,
    endpoints: status.endpoints.map((e) => ({ id: e.id, state: e.state, pending: e.pending })),
  };
}

/** Bytes an unprivileged process may still write on the partition of `dir`; null if unknown. */
export function diskFreeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export interface HeartbeatDeps {
  outbox: OutboxStore;
  /** Whether some enabled endpoint takes this type now: no one's event is not stored at all. */
  wanted: (type: string) => boolean;
  clock: Clock;
  logger: Logger;
  status: () => AgentStatus;
  dataDir: string;
}

/** Emits `edgehook.heartbeat` every intervalSeconds (0: off); the interval changes live. */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private intervalSeconds = 0;

  constructor(private readonly deps: HeartbeatDeps) {}

  setIntervalSeconds(seconds: number): void {
    if (seconds === this.intervalSeconds && (seconds === 0 || this.timer)) return;
    this.stop();
    this.intervalSeconds = seconds;
    if (seconds <= 0) return;
    this.timer = setInterval(() => this.beat(), seconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One heartbeat now. Never throws: it runs in a timer, and a failing one must not stop the agent. */
  beat(): void {
    const { outbox, clock, logger, status, dataDir } = this.deps;
    try {
      if (!this.deps.wanted(HEARTBEAT_TYPE)) return;
      const data = heartbeatData(status(), diskFreeBytes(dataDir));
      if (!storeHealthEvent(outbox, healthEvent(HEARTBEAT_TYPE, HEARTBEAT_TOPIC, data, clock.now())))
        logger.warn('heartbeat not stored: the outbox is full (storage.whenFull: stop-ingest)');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'heartbeat not stored');
    }
  }
}
