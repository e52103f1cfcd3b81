import type { Clock } from '../clock.js';
import type { Db } from './open-db.js';
import type { DeliveryStatus, OutboxStore } from './outbox-store.js';
import { ATTEMPT_OVERHEAD, DELIVERY_OVERHEAD, EVENT_OVERHEAD } from './row-costs.js';
import { typeMatcher } from './type-match.js';
import {
  REDELIVERED_COUNTER,
  type ReplayOutcome,
  type SecretExpiryRow,
  TEST_EVENT_TOPIC,
  TEST_EVENT_TYPE,
} from './delivery-log.js';

/**
 * What an operator does to deliveries and events from the admin API: retry, replay, delete,
 * test-send, redeliver a rejected event, and the expiry of rotated-out secrets (README,
 * "Admin"). Each action is one transaction of the outbox's: it keeps the invariant of the
 * counters (each received event is counted exactly once in delivered | rejected | dropped |
 * expired | deleted, or is pending | failed | unrouted now), and `bytes` stays the sum of the
 * events' `bytes` column. Listeners hear of what it did only once it has committed. Each
 * throws when its write fails; nothing in memory has changed then.
 */

/** The outbox internals the actions build on. */
type Core = Pick<
  OutboxStore,
  | 'tx'
  | 'ledger'
  | 'commitResults'
  | 'buildRow'
  | 'insertRow'
  | 'insertDelivery'
  | 'addEventBytes'
  | 'makeRoom'
  | 'removeEvent'
  | 'routesFor'
>;

export interface OperatorActionsDeps {
  db: Db;
  core: Core;
  clock: Clock;
}

export class OperatorActions {
  private readonly core: Core;
  private readonly clock: Clock;
  private readonly db: Db;
  private stmtCache: ReturnType<OperatorActions['prepare']> | undefined;

  constructor(deps: OperatorActionsDeps) {
    this.core = deps.core;
    this.clock = deps.clock;
    this.db = deps.db;
  }

  private get stmt() {
    this.stmtCache ??= this.prepare();
    return this.stmtCache;
  }

  private prepare() {
    const db = this.db;
    return {
      event: db.prepare(
        `SELECT seq, id, type, state, remaining, bytes, received_at AS receivedAt FROM events WHERE seq = ?`,
      ),
      keepFirstAttempt: db.prepare(
        `INSERT INTO attempts (endpoint_id, event_seq, at, outcome, status, duration_ms)
         SELECT endpoint_id, event_seq, updated_at, 'delivered', last_status, coalesce(last_duration_ms, 0) FROM deliveries d
         WHERE d.endpoint_id = @endpointId AND d.event_seq = @seq AND d.status = 'delivered' AND d.attempts = 1
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.endpoint_id = @endpointId AND a.event_seq = @seq)`,
      ),
      deliveryStatus: db
        .prepare(`SELECT status FROM deliveries WHERE endpoint_id = ? AND event_seq = ?`)
        .pluck(),
      deliveryStatuses: db.prepare(`SELECT status FROM deliveries WHERE event_seq = ?`).pluck(),
      retryPending: db.prepare(
        `UPDATE deliveries SET next_attempt_at = 0, updated_at = ? WHERE endpoint_id = ? AND event_seq = ?`,
      ),
      resetDelivery: db.prepare(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = 0, message_failures = 0, updated_at = ?
         WHERE endpoint_id = ? AND event_seq = ?`,
      ),
      reopenEvent: db.prepare(
        `UPDATE events SET remaining = remaining + 1, state = 'pending', settled_at = NULL WHERE seq = ?`,
      ),
      deleteDelivery: db.prepare(`DELETE FROM deliveries WHERE endpoint_id = ? AND event_seq = ?`),
      deleteDeliveryAttempts: db.prepare(`DELETE FROM attempts WHERE endpoint_id = ? AND event_seq = ?`),
      setRemaining: db.prepare(`UPDATE events SET remaining = ? WHERE seq = ?`),
      settleAs: db.prepare(`UPDATE events SET state = ?, settled_at = ? WHERE seq = ?`),
      unsettledOf: db
        .prepare(
          `SELECT event_seq FROM deliveries WHERE endpoint_id = ? AND status IN ('pending', 'failed') ORDER BY event_seq`,
        )
        .pluck(),
      eventsInRange: db.prepare(
        `SELECT e.seq, e.type, e.state, e.received_at AS receivedAt, d.status AS deliveryStatus
         FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq AND d.endpoint_id = @endpointId
         WHERE e.received_at >= @from AND e.received_at <= @to ORDER BY e.seq`,
      ),
      oldestHeld: db.prepare(`SELECT min(received_at) FROM events`).pluck(),
      routeRejected: db.prepare(
        `UPDATE events SET state = @state, remaining = @remaining, settled_at = @settledAt, bytes = bytes + @bytes
         WHERE seq = @seq AND state = 'rejected'`,
      ),
      counterAdd: db.prepare(
        `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value`,
      ),
      nextSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).pluck(),
      putSecretExpiry: db.prepare(
        `INSERT INTO secret_expiry (endpoint_id, secret_hash, expires_at, until_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT(endpoint_id, secret_hash) DO UPDATE SET expires_at = excluded.expires_at, until_seq = excluded.until_seq`,
      ),
      deleteSecretExpiry: db.prepare(`DELETE FROM secret_expiry WHERE endpoint_id = ? AND secret_hash = ?`),
    };
  }

  /**
   * Sends a delivery again now: a pending one skips its wait; a settled one (delivered,
   * failed, expired) becomes pending with a fresh retry schedule.
   */
  retryDelivery(endpointId: string, seq: number): 'queued' | 'not-found' {
    this.core.commitResults();
    return this.core.tx(() => {
      if (this.requeue(endpointId, seq, this.clock.now(), false) === 'missing') return 'not-found';
      this.core.ledger.noteAppended();
      return 'queued';
    });
  }

  /**
   * Queues again, for one endpoint, every event received in [from, to] that is still held: the
   * same event ids (so webhook-ids) and bodies. Events already removed (pruned after
   * keepDeliveredHours, dropped, deleted) cannot be: `unavailable` counts the gaps in seq within
   * the range, and `oldestHeldAt` says from when on events are still held. Rejected events go
   * through redeliverRejected; test events of other endpoints and types the endpoint does not
   * take are left out; events older than `notBefore` (maxAgeHours) would expire at once and
   * are counted in `tooOld` instead.
   */
  replay(
    endpointId: string,
    range: { from: number; to: number; types: readonly string[]; notBefore: number },
  ): ReplayOutcome {
    this.core.commitResults();
    const now = this.clock.now();
    const wanted = typeMatcher(range.types);
    return this.core.tx((): ReplayOutcome => {
      const rows = this.stmt.eventsInRange.all({ endpointId, from: range.from, to: range.to }) as {
        seq: number;
        type: string;
        state: string;
        receivedAt: number;
        deliveryStatus: string | null;
      }[];
      let count = 0;
      let tooOld = 0;
      for (const r of rows) {
        if (r.state === 'rejected') continue;
        if (r.deliveryStatus === null && (r.type === TEST_EVENT_TYPE || !wanted(r.type))) continue;
        if (r.receivedAt < range.notBefore) {
          tooOld++;
          continue;
        }
        if (this.requeue(endpointId, r.seq, now, true) !== 'missing') count++;
      }
      if (count > 0) this.core.ledger.noteAppended();
      const first = rows[0]?.seq;
      const last = rows[rows.length - 1]?.seq;
      const unavailable = first === undefined || last === undefined ? 0 : last - first + 1 - rows.length;
      return {
        count,
        unavailable,
        tooOld,
        oldestHeldAt: (this.stmt.oldestHeld.get() as number | null) ?? null,
      };
    });
  }

  /**
   * Puts one delivery back to pending (inserting it when the event was never routed there),
   * inside the caller's transaction. `reset`: replay starts the retry schedule afresh even for
   * a pending delivery.
   */
  private requeue(endpointId: string, seq: number, now: number, reset: boolean): 'queued' | 'missing' {
    const s = this.stmt;
    const ev = s.event.get(seq) as { state: string } | undefined;
    if (!ev || ev.state === 'rejected') return 'missing';
    const status = s.deliveryStatus.get(endpointId, seq) as DeliveryStatus | undefined;
    if (status === 'pending') {
      if (reset) s.resetDelivery.run(now, endpointId, seq);
      else s.retryPending.run(now, endpointId, seq);
      return 'queued';
    }
    if (status === undefined) {
      this.core.insertDelivery(endpointId, seq, now);
    } else {
      // Sent again: its first-try success, so far told only by the deliveries row, moves to
      // the attempt log before that row is reset.
      if (s.keepFirstAttempt.run({ endpointId, seq }).changes > 0)
        this.core.addEventBytes(ATTEMPT_OVERHEAD, seq);
      s.resetDelivery.run(now, endpointId, seq);
    }
    s.reopenEvent.run(seq);
    // The event leaves a counted final state: give the count back (it is counted again when it settles).
    if (ev.state === 'delivered' || ev.state === 'expired' || ev.state === 'deleted')
      this.core.ledger.bump(ev.state, -1);
    return 'queued';
  }

  /**
   * An operator's delete of a pending or failed delivery (a counted, visible policy: README,
   * "Guarantees"). When that settles the event it is counted as `deleted`; an event left with
   * no delivery at all is removed.
   */
  deleteDelivery(endpointId: string, seq: number): 'deleted' | 'not-found' | 'settled' {
    this.core.commitResults();
    return this.core.tx(() => {
      const status = this.stmt.deliveryStatus.get(endpointId, seq) as DeliveryStatus | undefined;
      if (status === undefined) return 'not-found' as const;
      if (status !== 'pending' && status !== 'failed') return 'settled' as const;
      this.removeDelivery(endpointId, seq, status);
      return 'deleted' as const;
    });
  }

  /** Deletes every pending or failed delivery of an endpoint (the endpoint was removed). Returns how many. */
  deleteDeliveriesOf(endpointId: string): number {
    this.core.commitResults();
    return this.core.tx(() => {
      const seqs = this.stmt.unsettledOf.all(endpointId) as number[];
      for (const seq of seqs) {
        const status = this.stmt.deliveryStatus.get(endpointId, seq) as 'pending' | 'failed';
        this.removeDelivery(endpointId, seq, status);
      }
      return seqs.length;
    });
  }

  /** Inside a transaction. When the whole event goes, listeners hear of it once committed (removeEvent). */
  private removeDelivery(endpointId: string, seq: number, status: 'pending' | 'failed'): void {
    const s = this.stmt;
    const ev = s.event.get(seq) as { seq: number; state: string; remaining: number; bytes: number };
    s.deleteDeliveryAttempts.run(endpointId, seq);
    s.deleteDelivery.run(endpointId, seq);
    const remaining = status === 'pending' ? ev.remaining - 1 : ev.remaining;
    s.setRemaining.run(remaining, seq);
    // Still waiting for another endpoint: it settles (and is counted) later.
    if (remaining > 0) return;
    // A failed delivery of an event still pending elsewhere changes nothing more; the last
    // pending one, or one of an event settled as failed, settles the event now.
    if (status === 'failed' && ev.state !== 'failed') return;
    const others = s.deliveryStatuses.all(seq) as DeliveryStatus[];
    if (others.includes('failed')) {
      if (ev.state !== 'failed') s.settleAs.run('failed', this.clock.now(), seq);
      return;
    }
    if (others.length === 0) {
      this.core.removeEvent({ seq, state: ev.state, bytes: ev.bytes }, 'deleted');
      return;
    }
    // Delivered (or expired) elsewhere: kept for the log, counted once, as deleted.
    s.settleAs.run('deleted', this.clock.now(), seq);
    this.core.ledger.bump('deleted', 1);
  }

  /** Queues a test event (type "edgehook.test") to one endpoint only, whatever its `types`. */
  enqueueTest(endpointId: string, data: Record<string, unknown>): { eventId: string; seq: number } | 'full' {
    const now = this.clock.now();
    const json = JSON.stringify(data);
    const result = this.core.tx(() => {
      const seq = ((this.stmt.nextSeq.get() as number | undefined) ?? 0) + 1;
      const built = this.core.buildRow(
        {
          topic: TEST_EVENT_TOPIC,
          type: TEST_EVENT_TYPE,
          receivedAt: now,
          payload: Buffer.from(json),
          data: { kind: 'json', json },
        },
        seq,
      );
      const row = {
        ...built,
        targets: [{ id: endpointId, match: () => true }],
        bytes: EVENT_OVERHEAD + Buffer.byteLength(built.body) + DELIVERY_OVERHEAD,
      };
      if (!this.core.makeRoom(row.bytes)) return undefined;
      this.core.insertRow(row, now);
      return { eventId: row.id, seq };
    });
    return result ?? 'full';
  }

  /**
   * Routes a rejected event to the endpoints that take its type; its body already carries the
   * raw payload as base64 (`"encoding":"base64"`). Undefined when there is no such rejected event.
   */
  redeliverRejected(seq: number): { endpoints: string[] } | undefined {
    this.core.commitResults();
    const now = this.clock.now();
    return this.core.tx(() => {
      const ev = this.stmt.event.get(seq) as { type: string; state: string } | undefined;
      if (ev?.state !== 'rejected') return undefined;
      const targets = this.core.routesFor(ev.type);
      for (const t of targets) this.core.insertDelivery(t.id, seq, now);
      this.stmt.routeRejected.run({
        seq,
        state: targets.length > 0 ? 'pending' : 'unrouted',
        remaining: targets.length,
        settledAt: targets.length > 0 ? null : now,
        bytes: 0,
      });
      // No longer counted as rejected; `redelivered` keeps the total ever rejected for /metrics.
      this.core.ledger.bump('rejected', -1);
      this.stmt.counterAdd.run(REDELIVERED_COUNTER, 1);
      if (targets.length > 0) this.core.ledger.noteAppended();
      return { endpoints: targets.map((t) => t.id) };
    });
  }

  /**
   * Records when rotated-out secrets stop signing, in one transaction. `untilLatest`: each also
   * signs until every event received so far has been delivered to its endpoint.
   */
  setSecretExpiries(rows: readonly SecretExpiryRow[], opts: { untilLatest?: boolean } = {}): void {
    this.core.tx(() => {
      const latest = (this.stmt.nextSeq.get() as number | undefined) ?? 0;
      for (const r of rows)
        this.stmt.putSecretExpiry.run(
          r.endpointId,
          r.secretHash,
          r.expiresAt,
          opts.untilLatest ? latest : r.untilSeq,
        );
    });
  }

  deleteSecretExpiry(endpointId: string, secretHash: string): void {
    this.stmt.deleteSecretExpiry.run(endpointId, secretHash);
  }
}
