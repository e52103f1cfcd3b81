import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import type { AdminApiDeps } from './api-deps.js';
import { DURATION_BUCKETS, type DeliveryTally } from './metrics.js';

/**
 * The Prometheus registry behind GET /metrics (README "Admin API" lists the names), built at the
 * first scrape: prom-client is loaded only then (README "Memory"). One Registry per agent (never
 * prom-client's global one: two agents in a process, as in tests, must not mix). The event
 * totals are the outbox's own persistent counters, read at scrape time, so they survive restarts
 * and always agree with /api/status; deliveries and their durations come from the DeliveryTally
 * kept since the agent started; gauges are read at scrape time too.
 */

export function createMetrics(deps: AdminApiDeps, tally: DeliveryTally): Registry {
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
    () => outbox.totals().received,
  );
  mirrored(
    'edgehook_events_rejected_total',
    'Events whose payload did not parse as their subscription declares (kept as rejected).',
    () => outbox.rejectedEver(),
  );
  mirrored(
    'edgehook_events_dropped_total',
    'Undelivered events dropped because the outbox was full (storage.whenFull: drop-oldest).',
    () => outbox.totals().dropped,
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

  new Counter({
    name: 'edgehook_deliveries_total',
    help: 'Delivery attempts by endpoint and outcome (delivered, endpoint-trouble, message-trouble, gone, failed, expired).',
    labelNames: ['endpoint', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const [endpoint, outcomes] of tally.outcomes(deps.running().endpoints))
        for (const [outcome, n] of outcomes) this.inc({ endpoint, outcome }, n);
    },
  });
  registry.registerMetric(durationMetric(deps, tally));
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
      this.set(outbox.totals().bytes);
    },
  });
  mirrored(
    'edgehook_events_pruned_for_disk_total',
    'Delivered events kept for the log that were removed early because the disk was full.',
    () => outbox.totals().prunedForDisk,
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

  return registry;
}

const DURATION = 'edgehook_delivery_duration_seconds';

/**
 * The duration histogram, read from the tally: prom-client's Histogram can only be fed one
 * observation at a time, and those before the first scrape were made before it was loaded. A
 * registry takes any object with a name, a type and get() (prom-client's own metrics are such
 * objects), and formats and escapes what get() returns like its own.
 */
function durationMetric(deps: AdminApiDeps, tally: DeliveryTally): Metric {
  const help = 'Time from sending a webhook to its answer (or error), by endpoint.';
  const metric = {
    name: DURATION,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [endpoint, h] of tally.durations(deps.running().endpoints)) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += h.buckets[i]!;
          values.push({ metricName: `${DURATION}_bucket`, labels: { le, endpoint }, value: cumulative });
        });
        values.push({ metricName: `${DURATION}_bucket`, labels: { le: '+Inf', endpoint }, value: h.count });
        values.push({ metricName: `${DURATION}_sum`, labels: { endpoint }, value: h.sum });
        values.push({ metricName: `${DURATION}_count`, labels: { endpoint }, value: h.count });
      }
      return { name: DURATION, help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
  return metric as unknown as Metric;
}
