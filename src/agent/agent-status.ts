import type { EndpointState } from '../delivery/endpoint-queue.js';
import type { OutboxCounts } from '../outbox/outbox-store.js';

/** The body of GET /api/status (DESIGN.md §6 gives its minimum shape). */
export interface AgentStatus {
  agent: { id: string; version: string; startedAt: number; uptimeSeconds: number; clockPlausible: boolean };
  mqtt: { connected: boolean; url: string; embedded: boolean; holding: boolean };
  outbox: OutboxCounts & { oldestPendingAgeSeconds: number | null };
  endpoints: {
    id: string;
    url: string;
    state: EndpointState;
    pending: number;
    inFlight: number;
    consecutiveFailures: number;
    backoffUntil: number | null;
    lastError: string | null;
    lastStatus: number | null;
    blockedBy: { seq: number; id: string; nextAttemptAt: number } | null;
    /** deliveries held because the system clock is implausible (no RTC, not yet synced) */
    heldByClock: boolean;
  }[];
}
