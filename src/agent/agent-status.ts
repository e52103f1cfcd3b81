import type { EndpointStatus } from '../delivery/endpoint-queue.js';
import type { OutboxCounts } from '../outbox/outbox-store.js';
import type { Counts } from '../processing/step-state-store.js';

/** The body of GET /api/status (DESIGN.md §6 gives its minimum shape). */
export interface AgentStatus {
  agent: { id: string; version: string; startedAt: number; uptimeSeconds: number; clockPlausible: boolean };
  /** held: messages received and not yet acked, waiting for their commit and its sync. */
  mqtt: { connected: boolean; url: string; embedded: boolean; holding: boolean; held: number };
  outbox: OutboxCounts & { oldestPendingAgeSeconds: number | null };
  /**
   * Per subscription (config order), its messages by outcome: messages = reported + filtered +
   * held + rejected; events stored for it (emitted: later, by a timer or an eviction); evicted keys.
   */
  subscriptions: { topic: string; steps: number; counts: Counts }[];
  /** The dispatcher's view of each endpoint, with its URL and how many deliveries wait. */
  endpoints: (EndpointStatus & { url: string; pending: number })[];
}
