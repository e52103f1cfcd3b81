import type { DiskGuard, DiskState } from './disk-guard.js';
import type { Db } from './open-db.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';

/** What goes into the outbox and what comes out of it: the types its parts and callers share. */

export type EventData = { kind: 'json'; json: string } | { kind: 'text'; text: string } | { kind: 'binary' };

export interface NewEvent {
  topic: string;
  type: string;
  receivedAt: number;
  payload: Buffer;
  data: EventData;
  /** Why the payload was not accepted as its subscription declares; the event is kept, not routed. */
  rejected?: string;
  /** Set for QoS 1/2 messages, so a redelivery after a crash is recognised. */
  mqtt?: { messageId: number; qos: 1 | 2; dup: boolean };
  /** Index of the subscription (in config order) whose filter matched; absent when none did. */
  subscription?: number;
}

export interface AppendResult {
  /** stop-ingest and no room: only the first `accepted` events were taken; hold the rest. */
  full: boolean;
  stored: number;
  duplicates: number;
  /** How many events, from the start of the list, were stored or recognised as duplicates. */
  accepted: number;
  /** Set when nothing was stored because the disk is full or failing: hold, try again later. */
  disk?: DiskState;
  /** Set when the disk is short of room and only the first messages were taken: the rest go next. */
  limited?: boolean;
}

export interface PendingDelivery {
  seq: number;
  id: string;
  type: string;
  receivedAt: number;
  body: string;
  attempts: number;
  messageFailures: number;
  nextAttemptAt: number;
}

export type AttemptOutcome =
  | 'delivered'
  | 'endpoint-trouble'
  | 'message-trouble'
  | 'gone'
  | 'expired'
  | 'failed';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'expired';

export interface AttemptRecord {
  endpointId: string;
  seq: number;
  at: number;
  outcome: AttemptOutcome;
  /** The delivery's status after this attempt. */
  newStatus: DeliveryStatus;
  /** false for bookkeeping without a request (expiry). */
  attempted: boolean;
  messageFailure?: boolean;
  nextAttemptAt?: number;
  status?: number | undefined;
  durationMs?: number;
  error?: string | undefined;
  response?: string | undefined;
}

export interface OutboxCounts {
  received: number;
  pending: number;
  delivered: number;
  failed: number;
  rejected: number;
  dropped: number;
  expired: number;
  deleted: number;
  unrouted: number;
  /** Settled events removed before keepDeliveredHours because the disk was full. */
  prunedForDisk: number;
  bytes: number;
  maxBytes: number;
  oldestPendingAt: number | null;
}

export interface RouteTarget {
  id: string;
  types: readonly string[];
}

export interface OutboxStoreDeps {
  db: Db;
  logger: Logger;
  clock: Clock;
  agentId: string;
  storage: { maxBytes: number; whenFull: 'drop-oldest' | 'stop-ingest'; keepDeliveredHours: number };
  endpoints: readonly RouteTarget[];
  /** Told of every failed write; holds ingest while the disk is full (absent: failures only throw). */
  disk?: DiskGuard;
}
