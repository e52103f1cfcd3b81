import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptRecord } from '../../outbox/outbox-store.js';
import type { AdminApiDeps } from './api-deps.js';

/**
 * GET /metrics in the Prometheus text format, with the names README "Admin API" lists. One Registry per
 * agent (never prom-client's global one: two agents in a process, as in tests, must not mix).
 * Deliveries and their durations are counted from the outbox's committed results; the event
 * totals are the outbox's own persistent counters, read at scrape time, so they survive
 * restarts and always agree with /api/status; gauges are read at scrape time too.
 */

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface AgentMetrics {
  registry: Registry;
  close(): void;
}

export function createMetrics(deps: AdminApiDeps): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  const { outbox } = deps;

  /** A counter whose value is a persistent count kept elsewhere. */
  const mirrored = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  mirrored(
    'edgehook_events_received_total',
    'Events received from MQTT and committed to the outbox.',
    () => outbox.counts().received,
  );
  mirrored(
    'edgehook_events_rejected_total',
    'Events whose payload did not parse as their subscription declares (kept as rejected).',
    () => outbox.rejectedEver(),
  );
  mirrored(
    'edgehook_events_dropped_total',
    'Undelivered events dropped because the outbox was full (storage.whenFull: drop-oldest).',
    () => outbox.counts().dropped,
  );

  // Edge processing (README, "Edge processing"): every message of a subscription is counted
  // under one outcome; the counts are persistent, read from the database at scrape time.
  new Counter({
    name: 'edgehook_messages_total',
    help: 'Messages per subscription by outcome of its steps (reported, filtered, held, rejected).',
    labelNames: ['subscription', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of deps.status().subscriptions ?? [])
        for (const outcome of ['reported', 'filtered', 'held', 'rejected'] as const)
          this.inc({ subscription: s.topic, outcome }, s.counts[outcome]);
    },
  });
  new Counter({
    name: 'edgehook_subscription_events_total',
    help: 'Events stored per subscription (split gives several per message; timers emit some later).',
    labelNames: ['subscription'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of deps.status().subscriptions ?? []) this.inc({ subscription: s.topic }, s.counts.events);
    },
  });
  new Counter({
    name: 'edgehook_step_keys_evicted_total',
    help: 'Keys of step state flushed early because processing.maxKeys was reached.',
    labelNames: ['subscription'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of deps.status().subscriptions ?? [])
        this.inc({ subscription: s.topic }, s.counts.evicted);
    },
  });

  const deliveries = new Counter({
    name: 'edgehook_deliveries_total',
    help: 'Delivery attempts by endpoint and outcome (delivered, endpoint-trouble, message-trouble, gone, failed, expired).',
    labelNames: ['endpoint', 'outcome'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'edgehook_delivery_duration_seconds',
    help: 'Time from sending a webhook to its answer (or error), by endpoint.',
    labelNames: ['endpoint'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'edgehook_outbox_pending',
    help: 'Deliveries waiting in the outbox, by endpoint.',
    labelNames: ['endpoint'] as const,
    registers,
    collect() {
      this.reset();
      const pending = outbox.pendingByEndpoint();
      for (const ep of deps.running().endpoints) this.set({ endpoint: ep.id }, pending.get(ep.id) ?? 0);
      for (const [id, n] of pending)
        if (!deps.running().endpoints.some((e) => e.id === id)) this.set({ endpoint: id }, n);
    },
  });
  new Gauge({
    name: 'edgehook_outbox_bytes',
    help: 'Bytes the outbox accounts for (storage.maxBytes bounds it).',
    registers,
    collect() {
      this.set(outbox.counts().bytes);
    },
  });
  mirrored(
    'edgehook_events_pruned_for_disk_total',
    'Delivered events kept for the log that were removed early because the disk was full.',
    () => outbox.counts().prunedForDisk,
  );
  new Gauge({
    name: 'edgehook_disk_full',
    help: '1 while ingest holds because the disk is full, short of storage.minFreeBytes or failing.',
    registers: [registry],
    collect() {
      this.set(deps.status().outbox.disk.state === 'ok' ? 0 : 1);
    },
  });
  new Gauge({
    name: 'edgehook_mqtt_connected',
    help: '1 while connected to the MQTT broker.',
    registers,
    collect() {
      this.set(deps.mqttConnected() ? 1 : 0);
    },
  });

  // Every endpoint shows up from the start, so a rate over a fresh agent is 0 rather than absent.
  for (const ep of deps.running().endpoints) {
    deliveries.inc({ endpoint: ep.id, outcome: 'delivered' }, 0);
    duration.zero({ endpoint: ep.id });
  }

  const unsubscribe = outbox.onResults((records: readonly AttemptRecord[]) => {
    for (const r of records) {
      if (!r.attempted && r.outcome !== 'expired') continue;
      deliveries.inc({ endpoint: r.endpointId, outcome: r.outcome });
      if (r.attempted) duration.observe({ endpoint: r.endpointId }, (r.durationMs ?? 0) / 1000);
    }
  });
  return { registry, close: unsubscribe };
}

export function registerMetricsRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const metrics = createMetrics(deps);
  app.addHook('onClose', async () => metrics.close());
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
}
