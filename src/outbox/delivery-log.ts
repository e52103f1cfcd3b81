import type { Db } from './open-db.js';
import type { Ledger } from './ledger.js';
import type { DeliveryStatus } from './outbox-store.js';

/**
 * The delivery log the admin API reads: deliveries newest first, one delivery with its body and
 * attempts, rejected events, secret expiries. Read-only: nothing here writes.
 */

export const TEST_EVENT_TYPE = 'edgehook.test';
export const TEST_EVENT_TOPIC = 'edgehook/test';
/** counters row: rejected events since redelivered (they leave `rejected`, see redeliverRejected). */
export const REDELIVERED_COUNTER = 'redelivered';

export interface DeliveryLogDeps {
  db: Db;
  ledger: Ledger;
  /** Commits queued delivery results first, so the log shows them (throws when that fails). */
  beforeRead: () => void;
}

export class DeliveryLog {
  private readonly deps: DeliveryLogDeps;
  private stmtCache: ReturnType<DeliveryLog['prepare']> | undefined;

  constructor(deps: DeliveryLogDeps) {
    this.deps = deps;
  }

  /** Statements are prepared on first use: a headless agent nobody looks at never needs them. */
  private get stmt() {
    this.stmtCache ??= this.prepare();
    return this.stmtCache;
  }

  private prepare() {
    const db = this.deps.db;
    const deliveryColumns = `d.endpoint_id AS endpointId, d.event_seq AS seq, e.id AS eventId, e.type, e.topic,
      e.received_at AS receivedAt, d.status, d.attempts, d.next_attempt_at AS nextAttemptAt,
      d.last_status AS lastStatus, d.last_error AS lastError, d.updated_at AS updatedAt`;
    const filters = `(@endpointId IS NULL OR d.endpoint_id = @endpointId)
      AND (@status IS NULL OR d.status = @status)
      AND (@type IS NULL OR e.type GLOB @type)
      AND (@from IS NULL OR e.received_at >= @from)
      AND (@to IS NULL OR e.received_at <= @to)`;
    return {
      queryDeliveries: db.prepare(
        `SELECT ${deliveryColumns} FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.event_seq < @before AND ${filters}
         ORDER BY d.event_seq DESC, d.endpoint_id LIMIT @limit`,
      ),
      deliveriesOfSeq: db.prepare(
        `SELECT ${deliveryColumns} FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.event_seq = @seq AND ${filters} ORDER BY d.endpoint_id`,
      ),
      delivery: db.prepare(
        `SELECT ${deliveryColumns}, e.body FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.endpoint_id = ? AND d.event_seq = ?`,
      ),
      attempts: db.prepare(
        `SELECT at, outcome, status, duration_ms AS durationMs, error, response FROM attempts
         WHERE endpoint_id = ? AND event_seq = ? ORDER BY id`,
      ),
      firstAttempt: db.prepare(
        `SELECT updated_at AS at, 'delivered' AS outcome, last_status AS status, coalesce(last_duration_ms, 0) AS durationMs,
                NULL AS error, NULL AS response
         FROM deliveries WHERE endpoint_id = ? AND event_seq = ? AND status = 'delivered' AND attempts = 1`,
      ),
      rejected: db.prepare(
        `SELECT seq, id AS eventId, topic, type, received_at AS receivedAt, reject_reason AS reason,
                substr(payload, 1, 256) AS preview
         FROM events WHERE state = 'rejected' AND seq < ? ORDER BY seq DESC LIMIT ?`,
      ),
      counterGet: db.prepare(`SELECT value FROM counters WHERE name = ?`).pluck(),
      secretExpiries: db.prepare(
        `SELECT endpoint_id AS endpointId, secret_hash AS secretHash, expires_at AS expiresAt, until_seq AS untilSeq FROM secret_expiry`,
      ),
      nextSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).pluck(),
      pendingUpTo: db
        .prepare(
          `SELECT 1 FROM deliveries WHERE endpoint_id = ? AND status = 'pending' AND event_seq <= ? LIMIT 1`,
        )
        .pluck(),
    };
  }

  /** The delivery log, newest first; `before` (a seq) pages back. A seq's deliveries stay on one page. */
  queryDeliveries(q: DeliveryQuery): { items: DeliveryRow[]; nextBefore: number | null } {
    this.deps.beforeRead();
    const limit = Math.max(1, Math.min(q.limit, 1000));
    const params = {
      endpointId: q.endpointId ?? null,
      status: q.status ?? null,
      type: q.type ?? null,
      from: q.from ?? null,
      to: q.to ?? null,
    };
    const rows = this.stmt.queryDeliveries.all({
      ...params,
      before: q.before ?? Number.MAX_SAFE_INTEGER,
      limit: limit + 1,
    }) as RawDeliveryRow[];
    if (rows.length <= limit) return { items: rows.map(parseDeliveryRow), nextBefore: null };
    // The page ends inside a seq's group of deliveries: end it before that seq instead, or —
    // when one seq fills the whole page — take all of that seq's deliveries.
    const boundary = rows[limit]!.seq;
    let page = rows.slice(0, limit).filter((r) => r.seq !== boundary);
    if (page.length === 0)
      page = this.stmt.deliveriesOfSeq.all({ ...params, seq: boundary }) as RawDeliveryRow[];
    return { items: page.map(parseDeliveryRow), nextBefore: page[page.length - 1]!.seq };
  }

  /** One delivery with the webhook body as sent and its attempts, oldest first. */
  deliveryDetail(
    endpointId: string,
    seq: number,
  ): { delivery: DeliveryRow; body: string; attempts: AttemptRow[] } | undefined {
    this.deps.beforeRead();
    const row = this.stmt.delivery.get(endpointId, seq) as (RawDeliveryRow & { body: string }) | undefined;
    if (!row) return undefined;
    const { body, ...delivery } = row;
    return { delivery: parseDeliveryRow(delivery), body, attempts: this.attemptsOf(endpointId, seq) };
  }

  /** The attempt log of a delivery, oldest first; a first-try success is read off its deliveries row. */
  private attemptsOf(endpointId: string, seq: number): AttemptRow[] {
    const rows = this.stmt.attempts.all(endpointId, seq) as AttemptRow[];
    if (rows.length > 0) return rows;
    const first = this.stmt.firstAttempt.get(endpointId, seq) as AttemptRow | undefined;
    return first ? [first] : [];
  }

  /** Rejected events (payload did not parse as declared), newest first, with their reason. */
  rejectedEvents(q: { before?: number | undefined; limit: number }): RejectedEventRow[] {
    const rows = this.stmt.rejected.all(
      q.before ?? Number.MAX_SAFE_INTEGER,
      Math.max(1, Math.min(q.limit, 1000)),
    ) as (Omit<RejectedEventRow, 'preview'> & { preview: Buffer | null })[];
    return rows.map((r) => ({ ...r, preview: r.preview ?? Buffer.alloc(0) }));
  }

  /** Events ever rejected, including those since redelivered (a monotonic count for /metrics). */
  rejectedEver(): number {
    return (
      this.deps.ledger.counter('rejected') +
      ((this.stmt.counterGet.get(REDELIVERED_COUNTER) as number | undefined) ?? 0)
    );
  }

  secretExpiries(): SecretExpiryRow[] {
    return this.stmt.secretExpiries.all() as SecretExpiryRow[];
  }

  /** The seq of the newest event received so far (0 when none). */
  latestSeq(): number {
    return (this.stmt.nextSeq.get() as number | undefined) ?? 0;
  }

  /** Whether the endpoint still has an undelivered event with seq ≤ `seq`. */
  hasPendingUpTo(endpointId: string, seq: number): boolean {
    this.deps.beforeRead();
    return this.stmt.pendingUpTo.get(endpointId, seq) !== undefined;
  }
}

export interface DeliveryQuery {
  endpointId?: string | undefined;
  status?: DeliveryStatus | undefined;
  /** exact, or a pattern with "*" */
  type?: string | undefined;
  /** received_at bounds, epoch ms, inclusive */
  from?: number | undefined;
  to?: number | undefined;
  /** cursor: only seqs below this */
  before?: number | undefined;
  limit: number;
}

export interface DeliveryRow {
  endpointId: string;
  seq: number;
  eventId: string;
  type: string;
  topic: string;
  receivedAt: number;
  status: DeliveryStatus;
  attempts: number;
  /** when a pending delivery is tried next (0: now); null once settled */
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: number;
}

type RawDeliveryRow = Omit<DeliveryRow, 'nextAttemptAt'> & { nextAttemptAt: number };

function parseDeliveryRow(r: RawDeliveryRow): DeliveryRow {
  return { ...r, nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt : null };
}

export interface AttemptRow {
  at: number;
  outcome: 'delivered' | 'endpoint-trouble' | 'message-trouble' | 'gone' | 'failed';
  status: number | null;
  durationMs: number;
  error: string | null;
  /** the first bytes of the response body */
  response: string | null;
}

export interface RejectedEventRow {
  seq: number;
  eventId: string;
  topic: string;
  type: string;
  receivedAt: number;
  reason: string;
  /** the first 256 bytes of the payload */
  preview: Buffer;
}

export interface ReplayOutcome {
  count: number;
  unavailable: number;
  tooOld: number;
  oldestHeldAt: number | null;
}

export interface SecretExpiryRow {
  endpointId: string;
  secretHash: string;
  expiresAt: number;
  untilSeq: number;
}
