import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { EndpointConfig } from '../../config/schema.js';
import type { AttemptRecord } from '../../outbox/outbox-store.js';
import type { AdminApiDeps } from './api-deps.js';

/**
 * GET /metrics in the Prometheus text format (README "Admin API"). prom-client and the registry
 * (metrics-registry.ts) are loaded at the first scrape, not at start: an agent nobody scrapes
 * never pays for them (README "Memory"). Deliveries and their durations are counted from the
 * outbox's committed results from the start all the same, here, in plain maps, so the first
 * scrape shows every delivery since the agent started.
 */

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Durations {
  /** Observations per bucket of DURATION_BUCKETS (not cumulative); above the last: count only. */
  buckets: number[];
  sum: number;
  count: number;
}

/** Delivery outcomes and durations per endpoint since the agent started. */
export class DeliveryTally {
  private readonly byOutcome = new Map<string, Map<string, number>>();
  private readonly byDuration = new Map<string, Durations>();
  readonly close: () => void;

  constructor(outbox: AdminApiDeps['outbox']) {
    this.close = outbox.onResults((records) => this.add(records));
  }

  private add(records: readonly AttemptRecord[]): void {
    for (const r of records) {
      if (!r.attempted && r.outcome !== 'expired') continue;
      const outcomes = this.outcomesOf(r.endpointId);
      outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
      if (!r.attempted) continue;
      const seconds = (r.durationMs ?? 0) / 1000;
      const d = this.durationsOf(r.endpointId);
      const i = DURATION_BUCKETS.findIndex((le) => seconds <= le);
      if (i >= 0) d.buckets[i]!++;
      d.sum += seconds;
      d.count++;
    }
  }

  /**
   * Counts by endpoint and outcome. Every running endpoint shows up, with `delivered` at least 0,
   * so a rate over a fresh agent is 0 rather than absent.
   */
  outcomes(running: readonly EndpointConfig[]): Map<string, Map<string, number>> {
    for (const ep of running) {
      const outcomes = this.outcomesOf(ep.id);
      if (!outcomes.has('delivered')) outcomes.set('delivered', 0);
    }
    return this.byOutcome;
  }

  /** Durations by endpoint; every running endpoint shows up (zero observations). */
  durations(running: readonly EndpointConfig[]): Map<string, Durations> {
    for (const ep of running) this.durationsOf(ep.id);
    return this.byDuration;
  }

  private outcomesOf(endpoint: string): Map<string, number> {
    let m = this.byOutcome.get(endpoint);
    if (!m) {
      m = new Map();
      this.byOutcome.set(endpoint, m);
    }
    return m;
  }

  private durationsOf(endpoint: string): Durations {
    let d = this.byDuration.get(endpoint);
    if (!d) {
      d = { buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.byDuration.set(endpoint, d);
    }
    return d;
  }
}

export function registerMetricsRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tally = new DeliveryTally(deps.outbox);
  app.addHook('onClose', async () => tally.close());
  let registry: Promise<Registry> | undefined;
  app.get('/metrics', async (_req, reply) => {
    registry ??= import('./metrics-registry.js').then(
      (m) => m.createMetrics(deps, tally),
      (err: unknown) => {
        registry = undefined; // the next scrape tries again
        throw err;
      },
    );
    const r = await registry;
    const text = await r.metrics();
    return reply.header('content-type', r.contentType).send(text);
  });
}
