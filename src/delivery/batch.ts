import { createHash } from 'node:crypto';
import type { PendingDelivery } from '../outbox/outbox-store.js';

/**
 * The batch wire format (docs/architecture.md "Wire format"): one signed request carrying several events,
 * `{"id":"bat_…","type":"batch","timestamp":…,"agent":…,"data":[<event>,…]}`.
 * The id is derived from the events it holds, so a retry of the same batch (even after a
 * restart) carries the same webhook-id; `timestamp` is when its first event was received.
 */
export function batchBody(
  group: readonly PendingDelivery[],
  agentJson: string,
): { id: string; body: string } {
  const id = batchId(group);
  const timestamp = new Date(group[0]!.receivedAt).toISOString();
  // Event bodies are stored as the exact JSON they would be sent as alone: spliced, not re-encoded.
  const body = `{"id":"${id}","type":"batch","timestamp":"${timestamp}","agent":${agentJson},"data":[${group.map((d) => d.body).join(',')}]}`;
  return { id, body };
}

/** Derived from the ids of the events a batch holds: the same events, the same id, in every format. */
export function batchId(group: readonly PendingDelivery[]): string {
  const hash = createHash('sha256');
  for (const d of group) hash.update(d.id).update('\n');
  return `bat_${hash.digest('base64url').slice(0, 24)}`;
}
