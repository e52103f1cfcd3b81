import type { EndpointStatus } from '../delivery/endpoint-queue.js';
import type { OutboxCounts } from '../outbox/outbox-store.js';

/** The body of GET /api/status (DESIGN.md §6 gives its minimum shape). */
export interface AgentStatus {
  agent: { id: string; version: string; startedAt: number; uptimeSeconds: number; clockPlausible: boolean };
  /** held: messages received and not yet acked, waiting for their commit and its sync. */
  mqtt: { connected: boolean; url: string; embedded: boolean; holding: boolean; held: number };
  outbox: OutboxCounts & { oldestPendingAgeSeconds: number | null };
  /** The dispatcher's view of each endpoint, with its URL and how many deliveries wait. */
  endpoints: (EndpointStatus & { url: string; pending: number })[];
}
