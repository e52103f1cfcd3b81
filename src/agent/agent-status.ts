import type { EndpointStatus } from '../delivery/endpoint-queue.js';
import type { OutboxCounts } from '../outbox/outbox-store.js';
import type { DiskStatus } from '../outbox/disk-guard.js';

/** The body of GET /api/status (DESIGN.md §6 gives its minimum shape). */
export interface AgentStatus {
  agent: { id: string; version: string; startedAt: number; uptimeSeconds: number; clockPlausible: boolean };
  /** held: messages received and not yet acked, waiting for their commit and its sync. */
  mqtt: { connected: boolean; url: string; embedded: boolean; holding: boolean; held: number };
  /** disk: "full", "low" or "io-error" while ingest holds for the disk (README, "Guarantees"). */
  outbox: OutboxCounts & { oldestPendingAgeSeconds: number | null; disk: DiskStatus };
  /** The dispatcher's view of each endpoint, with its URL and how many deliveries wait. */
  endpoints: (EndpointStatus & { url: string; pending: number })[];
}
