import type { Config } from '../config/schema.js';
import { clockPlausible } from '../clock.js';
import { redactUrl } from '../log.js';
import type { OutboxStore } from '../outbox/outbox-store.js';
import type { DiskGuard } from '../outbox/disk-guard.js';
import type { EmbeddedBroker } from '../ingest/embedded-broker.js';
import type { MqttSource } from '../ingest/mqtt-source.js';
import type { SparkplugStage } from '../ingest/sparkplug/sparkplug-stage.js';
import type { Dispatcher } from '../delivery/dispatcher.js';
import type { StepsStage } from '../processing/steps-stage.js';
import { VERSION } from '../version.js';
import type { AgentStatus } from './agent-status.js';

/** The running parts a status is read from; those not started (yet, or at all) are absent. */
export interface StatusSources {
  config: Config;
  startedAt: number;
  outbox: OutboxStore;
  disk: DiskGuard;
  mqtt?: MqttSource | undefined;
  broker?: EmbeddedBroker | undefined;
  dispatcher?: Dispatcher | undefined;
  steps?: StepsStage | undefined;
  sparkplug?: SparkplugStage | undefined;
}

/**
 * The agent's status as GET /api/status answers it (README, "Admin API"), read from its parts
 * now. `countMs` is how long the outbox's counts took: they scan an index, so they grow with the
 * outbox, and the caller keeps the answer longer when they are slow.
 */
export function readStatus(s: StatusSources, now: number): { value: AgentStatus; countMs: number } {
  const countStarted = performance.now();
  const counts = s.outbox.counts();
  const pendingBy = s.outbox.pendingByEndpoint();
  const countMs = performance.now() - countStarted;
  const queues = new Map((s.dispatcher?.statuses() ?? []).map((q) => [q.id, q]));
  const value: AgentStatus = {
    agent: {
      id: s.config.agentId,
      version: VERSION,
      startedAt: s.startedAt,
      uptimeSeconds: Math.round((now - s.startedAt) / 1000),
      clockPlausible: clockPlausible(now),
    },
    mqtt: {
      connected: s.mqtt?.connected ?? false,
      url: s.config.mqtt.url === 'embedded' ? (s.broker?.url ?? 'embedded') : redactUrl(s.config.mqtt.url),
      embedded: s.config.mqtt.url === 'embedded',
      holding: s.mqtt?.holding ?? false,
      held: s.mqtt?.held ?? 0,
    },
    outbox: {
      ...counts,
      disk: s.disk.status(),
      oldestPendingAgeSeconds:
        counts.oldestPendingAt === null
          ? null
          : Math.max(0, Math.round((now - counts.oldestPendingAt) / 1000)),
    },
    subscriptions: s.steps?.counts() ?? [],
    endpoints: s.config.endpoints.map((ep) => {
      // Every configured endpoint has a queue; the fallback covers a config being swapped.
      const q = queues.get(ep.id) ?? {
        id: ep.id,
        state: 'disabled' as const,
        inFlight: 0,
        consecutiveFailures: 0,
        backoffUntil: null,
        lastError: null,
        lastStatus: null,
        blockedBy: null,
        heldByClock: false,
      };
      return { ...q, url: ep.url, pending: pendingBy.get(ep.id) ?? 0 };
    }),
  };
  if (s.sparkplug && s.config.subscriptions.some((sub) => sub.payload === 'sparkplug'))
    value.sparkplug = { nodes: s.sparkplug.state.nodes() };
  return { value, countMs };
}
