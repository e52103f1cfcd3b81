import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Db } from './open-db.js';
import { typeMatcher } from './type-match.js';

/**
 * The outbox: the single owner of the SQLite database (DESIGN.md §2). Every statement is
 * prepared once in the constructor; rows are parsed on the way out; times are integer epoch ms.
 *
 * Event states: pending (some delivery not settled), delivered, failed (some delivery is a dead
 * letter), expired, rejected (payload did not parse), unrouted (no endpoint wanted it).
 * Counters are cumulative and survive restarts; each received event is counted exactly once in
 * delivered | rejected | dropped | expired | deleted, or is currently pending or failed.
 */

export type EventData =
  | { kind: 'json'; json: string }
  | { kind: 'text'; text: string }
  | { kind: 'binary' };

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
}

export interface AppendResult {
  /** stop-ingest and no room: nothing was stored; try again later without acking. */
  full: boolean;
  stored: number;
  duplicates: number;
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

export type AttemptOutcome = 'delivered' | 'endpoint-trouble' | 'message-trouble' | 'gone' | 'expired' | 'failed';
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
}

/** Bytes an event costs beyond its body and payload: row, index entries, delivery rows. */
const EVENT_OVERHEAD = 160;
const DELIVERY_OVERHEAD = 64;
const ATTEMPT_OVERHEAD = 96;
const MAX_ATTEMPTS_KEPT = 20;
const COUNTER_NAMES = ['received', 'rejected', 'dropped', 'delivered', 'expired', 'deleted'] as const;
type CounterName = (typeof COUNTER_NAMES)[number];

export class OutboxStore {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly agentJson: string;
  private storage: OutboxStoreDeps['storage'];
  private routes: { id: string; match: (type: string) => boolean }[] = [];
  private readonly counters = new Map<CounterName, number>();
  private bytes = 0;
  private readonly pendingWrites: AttemptRecord[] = [];
  private flushScheduled = false;
  private readonly appendListeners = new Set<() => void>();
  private readonly dropListeners = new Set<(seqs: readonly number[]) => void>();
  private readonly settleListeners = new Set<(records: readonly AttemptRecord[]) => void>();
  private readonly ackedIds = new Set<number>();
  private readonly stmt;

  constructor(deps: OutboxStoreDeps) {
    this.db = deps.db;
    this.log = deps.logger;
    this.clock = deps.clock;
    this.agentJson = JSON.stringify(deps.agentId);
    this.storage = deps.storage;
    this.setEndpoints(deps.endpoints);
    const db = this.db;
    this.stmt = {
      nextSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).pluck(),
      insertEvent: db.prepare(
        `INSERT INTO events (seq, id, type, topic, received_at, state, remaining, settled_at, body, payload, reject_reason, bytes)
         VALUES (@seq, @id, @type, @topic, @receivedAt, @state, @remaining, @settledAt, @body, @payload, @rejectReason, @bytes)`,
      ),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (endpoint_id, event_seq, status, updated_at) VALUES (?, ?, 'pending', ?)`,
      ),
      inflightGet: db.prepare(
        `SELECT e.topic, e.payload FROM mqtt_inflight m JOIN events e ON e.seq = m.event_seq WHERE m.message_id = ?`,
      ),
      inflightPut: db.prepare(`INSERT OR REPLACE INTO mqtt_inflight (message_id, event_seq, qos) VALUES (?, ?, ?)`),
      inflightDel: db.prepare(`DELETE FROM mqtt_inflight WHERE message_id = ?`),
      inflightClear: db.prepare(`DELETE FROM mqtt_inflight`),
      counterGetAll: db.prepare(`SELECT name, value FROM counters`),
      counterAdd: db.prepare(
        `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value`,
      ),
      totalBytes: db.prepare(`SELECT total(bytes) FROM events`).pluck(),
      loadPending: db.prepare(
        `SELECT d.event_seq AS seq, e.id, e.type, e.received_at AS receivedAt, e.body, d.attempts,
                d.message_failures AS messageFailures, d.next_attempt_at AS nextAttemptAt
         FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.endpoint_id = ? AND d.status = 'pending' AND d.event_seq > ?
         ORDER BY d.event_seq LIMIT ?`,
      ),
      loadDue: db.prepare(
        `SELECT d.event_seq AS seq, e.id, e.type, e.received_at AS receivedAt, e.body, d.attempts,
                d.message_failures AS messageFailures, d.next_attempt_at AS nextAttemptAt
         FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.endpoint_id = ? AND d.status = 'pending' AND d.event_seq <= ? AND d.next_attempt_at <= ?
         ORDER BY d.event_seq LIMIT ?`,
      ),
      insertAttempt: db.prepare(
        `INSERT INTO attempts (endpoint_id, event_seq, at, outcome, status, duration_ms, error, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      trimAttempts: db.prepare(
        `DELETE FROM attempts WHERE event_seq = ? AND endpoint_id = ? AND id NOT IN
           (SELECT id FROM attempts WHERE event_seq = ? AND endpoint_id = ? ORDER BY id DESC LIMIT ${MAX_ATTEMPTS_KEPT})`,
      ),
      updateDelivery: db.prepare(
        `UPDATE deliveries SET status = @status, attempts = attempts + @attempted,
           message_failures = message_failures + @messageFailure, next_attempt_at = @nextAttemptAt,
           last_status = coalesce(@lastStatus, last_status), last_error = @lastError, updated_at = @at
         WHERE endpoint_id = @endpointId AND event_seq = @seq AND status = 'pending'
         RETURNING attempts`,
      ),
      addEventBytes: db.prepare(`UPDATE events SET bytes = bytes + ? WHERE seq = ?`),
      settleEvent: db.prepare(
        `UPDATE events SET remaining = remaining - 1,
           state = CASE WHEN remaining > 1 THEN state ELSE (
             SELECT CASE WHEN sum(status = 'failed') > 0 THEN 'failed'
                         WHEN sum(status = 'expired') > 0 THEN 'expired' ELSE 'delivered' END
             FROM deliveries WHERE event_seq = @seq) END,
           settled_at = CASE WHEN remaining > 1 THEN NULL ELSE @at END
         WHERE seq = @seq AND remaining > 0
         RETURNING state, remaining`,
      ),
      countStates: db.prepare(`SELECT state, count(*) AS n FROM events GROUP BY state`),
      oldestPending: db.prepare(`SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1`).pluck(),
      pendingByEndpoint: db.prepare(
        `SELECT endpoint_id AS id, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY endpoint_id`,
      ),
      oldestOfStates: db.prepare(
        `SELECT seq, state, bytes FROM events WHERE state IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
      ),
      prunable: db.prepare(
        `SELECT seq, state, bytes FROM events
         WHERE (state IN ('delivered', 'expired', 'unrouted') AND settled_at < @settledBefore)
            OR (state = 'rejected' AND received_at < @settledBefore)
         ORDER BY seq LIMIT 500`,
      ),
      deleteEvent: db.prepare(`DELETE FROM events WHERE seq = ?`),
      deleteDeliveries: db.prepare(`DELETE FROM deliveries WHERE event_seq = ?`),
      deleteAttempts: db.prepare(`DELETE FROM attempts WHERE event_seq = ?`),
    };
    for (const name of COUNTER_NAMES) this.counters.set(name, 0);
    for (const row of this.stmt.counterGetAll.all() as { name: CounterName; value: number }[]) {
      this.counters.set(row.name, row.value);
    }
    this.bytes = this.stmt.totalBytes.get() as number;
  }

  /** Which endpoints new events are routed to (type filters); changes apply to new events. */
  setEndpoints(endpoints: readonly RouteTarget[]): void {
    this.routes = endpoints.map((ep) => ({ id: ep.id, match: typeMatcher(ep.types) }));
  }

  setStorage(storage: OutboxStoreDeps['storage']): void {
    this.storage = storage;
  }

  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Called with the seqs of events removed to make room (drop-oldest) or by an operator. */
  onRemoved(listener: (seqs: readonly number[]) => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  /** Called after delivery results are committed (for live views and metrics). */
  onResults(listener: (records: readonly AttemptRecord[]) => void): () => void {
    this.settleListeners.add(listener);
    return () => this.settleListeners.delete(listener);
  }

  /**
   * Group commit: stores every event of `events` in one IMMEDIATE transaction (one fsync), so
   * the caller can ack them all afterwards. Redeliveries of a packet already stored are skipped.
   */
  append(events: readonly NewEvent[]): AppendResult {
    const now = this.clock.now();
    const result = this.db
      .transaction((): AppendResult => {
        this.flushAckedIds();
        let seq = ((this.stmt.nextSeq.get() as number | undefined) ?? 0) + 1;
        const rows: Parameters<OutboxStore['insertRow']>[0][] = [];
        let duplicates = 0;
        let need = 0;
        for (const ev of events) {
          if (ev.mqtt && this.isRedelivery(ev)) {
            duplicates++;
            continue;
          }
          const row = this.buildRow(ev, seq++);
          need += row.bytes;
          rows.push(row);
        }
        if (need > 0 && !this.makeRoom(need, now)) return { full: true, stored: 0, duplicates: 0 };
        for (const row of rows) this.insertRow(row, now);
        return { full: false, stored: rows.length, duplicates };
      })
      .immediate();
    if (result.stored > 0) for (const l of this.appendListeners) l();
    return result;
  }

  /** A QoS 1/2 packet id whose ack reached the broker: its redelivery guard can go. */
  markAcked(messageId: number): void {
    this.ackedIds.add(messageId);
  }

  /** The broker has no session for us: nothing will be redelivered. */
  clearInflight(): void {
    this.ackedIds.clear();
    this.stmt.inflightClear.run();
  }

  private flushAckedIds(): void {
    if (this.ackedIds.size === 0) return;
    for (const id of this.ackedIds) this.stmt.inflightDel.run(id);
    this.ackedIds.clear();
  }

  /**
   * After a crash between commit and PUBACK the broker sends the packet again with the same id
   * (and, for QoS 1, the DUP flag). Same id, topic and payload as a committed, unacked packet:
   * it is that packet. Without DUP a QoS 1 packet is always new, so a reused id never hides data.
   */
  private isRedelivery(ev: NewEvent): boolean {
    const m = ev.mqtt!;
    if (m.qos === 1 && !m.dup) return false;
    const row = this.stmt.inflightGet.get(m.messageId) as { topic: string; payload: Buffer | null } | undefined;
    return row !== undefined && row.topic === ev.topic && row.payload !== null && row.payload.equals(ev.payload);
  }

  private buildRow(ev: NewEvent, seq: number) {
    const id = `evt_${randomBytes(15).toString('base64url')}`;
    let data: string;
    let extra = '';
    if (ev.rejected === undefined && ev.data.kind === 'json') data = ev.data.json;
    else if (ev.rejected === undefined && ev.data.kind === 'text') data = JSON.stringify(ev.data.text);
    else {
      data = JSON.stringify(ev.payload.toString('base64'));
      extra = ',"encoding":"base64"';
    }
    const body =
      `{"id":"${id}","type":${JSON.stringify(ev.type)},"timestamp":"${new Date(ev.receivedAt).toISOString()}",` +
      `"agent":${this.agentJson},"seq":${seq},"topic":${JSON.stringify(ev.topic)},"data":${data}${extra}}`;
    const targets = ev.rejected === undefined ? this.routes.filter((r) => r.match(ev.type)) : [];
    // The raw payload is kept only where it is needed: to re-parse a rejected event, and to
    // recognise an MQTT redelivery.
    const keepPayload = ev.rejected !== undefined || ev.mqtt !== undefined;
    const bytes =
      EVENT_OVERHEAD + Buffer.byteLength(body) + (keepPayload ? ev.payload.length : 0) + targets.length * DELIVERY_OVERHEAD;
    return { ev, seq, id, body, targets, bytes, keepPayload };
  }

  private insertRow(row: ReturnType<OutboxStore['buildRow']>, now: number): void {
    const { ev, seq, id, body, targets, bytes, keepPayload } = row;
    const state = ev.rejected !== undefined ? 'rejected' : targets.length === 0 ? 'unrouted' : 'pending';
    this.stmt.insertEvent.run({
      seq,
      id,
      type: ev.type,
      topic: ev.topic,
      receivedAt: ev.receivedAt,
      state,
      remaining: targets.length,
      settledAt: state === 'pending' ? null : now,
      body,
      payload: keepPayload ? ev.payload : null,
      rejectReason: ev.rejected ?? null,
      bytes,
    });
    for (const t of targets) this.stmt.insertDelivery.run(t.id, seq, now);
    if (ev.mqtt) this.stmt.inflightPut.run(ev.mqtt.messageId, seq, ev.mqtt.qos);
    this.bump('received', 1);
    if (state === 'rejected') this.bump('rejected', 1);
    this.bytes += bytes;
  }

  private bump(name: CounterName, by: number): void {
    this.stmt.counterAdd.run(name, by);
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /**
   * Frees `need` bytes under storage.maxBytes (DESIGN.md §1.4): first delivered events kept only
   * for the log, then — with drop-oldest — the oldest undelivered ones, each counted and logged.
   * Runs inside the append transaction. Returns false when stop-ingest leaves no room.
   */
  private makeRoom(need: number, now: number): boolean {
    const max = this.storage.maxBytes;
    if (this.bytes + need <= max) return true;
    this.removeWhile(['delivered', 'expired', 'unrouted'], () => this.bytes + need > max, 'pruned');
    if (this.bytes + need <= max) return true;
    if (this.storage.whenFull === 'stop-ingest') return false;
    const dropped = this.removeWhile(['pending', 'failed', 'rejected'], () => this.bytes + need > max, 'dropped');
    if (dropped.length > 0) {
      this.log.warn({ dropped: dropped.length, maxBytes: max, firstSeq: dropped[0], lastSeq: dropped[dropped.length - 1] },
        'outbox full: dropped the oldest undelivered events (storage.whenFull = drop-oldest)');
    }
    void now;
    return true;
  }

  private removeWhile(states: string[], more: () => boolean, reason: 'pruned' | 'dropped' | 'deleted'): number[] {
    const removed: number[] = [];
    const statesJson = JSON.stringify(states);
    while (more()) {
      const rows = this.stmt.oldestOfStates.all(statesJson, 256) as { seq: number; state: string; bytes: number }[];
      if (rows.length === 0) break;
      for (const r of rows) {
        if (!more()) break;
        this.removeEvent(r, reason);
        removed.push(r.seq);
      }
    }
    if (removed.length > 0 && reason !== 'pruned') for (const l of this.dropListeners) l(removed);
    return removed;
  }

  private removeEvent(r: { seq: number; state: string; bytes: number }, reason: 'pruned' | 'dropped' | 'deleted'): void {
    this.stmt.deleteAttempts.run(r.seq);
    this.stmt.deleteDeliveries.run(r.seq);
    this.stmt.deleteEvent.run(r.seq);
    this.bytes -= r.bytes;
    // Events already accounted for (delivered, expired, rejected…) are not counted again.
    if (reason !== 'pruned' && (r.state === 'pending' || r.state === 'failed')) this.bump(reason, 1);
  }

  /** Removes events delivered longer ago than keepDeliveredHours. Returns how many. */
  prune(): number {
    const settledBefore = this.clock.now() - this.storage.keepDeliveredHours * 3_600_000;
    let total = 0;
    for (;;) {
      const n = this.db
        .transaction(() => {
          const rows = this.stmt.prunable.all({ settledBefore }) as { seq: number; state: string; bytes: number }[];
          for (const r of rows) this.removeEvent(r, 'pruned');
          return rows.length;
        })
        .immediate();
      total += n;
      if (n < 500) return total;
    }
  }

  /** Up to `limit` pending deliveries of an endpoint after `afterSeq`, in order. */
  loadPending(endpointId: string, afterSeq: number, limit: number): PendingDelivery[] {
    return this.stmt.loadPending.all(endpointId, afterSeq, limit) as PendingDelivery[];
  }

  /** Pending deliveries at or below `uptoSeq` whose retry time has come. */
  loadDue(endpointId: string, uptoSeq: number, now: number, limit: number): PendingDelivery[] {
    this.flush();
    return this.stmt.loadDue.all(endpointId, uptoSeq, now, limit) as PendingDelivery[];
  }

  /**
   * Queues the result of an attempt. Results are committed together a moment later (one fsync
   * for many); a crash before then only means the same event is sent again with the same id.
   */
  record(rec: AttemptRecord): void {
    this.pendingWrites.push(rec);
    if (this.pendingWrites.length >= 512) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setTimeout(() => this.flush(), 5).unref();
    }
  }

  /** Commits queued results now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.pendingWrites.length === 0) return;
    const batch = this.pendingWrites.splice(0, this.pendingWrites.length);
    this.db
      .transaction(() => {
        for (const rec of batch) this.applyResult(rec);
      })
      .immediate();
    for (const l of this.settleListeners) l(batch);
  }

  private applyResult(rec: AttemptRecord): void {
    const updated = this.stmt.updateDelivery.get({
      endpointId: rec.endpointId,
      seq: rec.seq,
      status: rec.newStatus,
      attempted: rec.attempted ? 1 : 0,
      messageFailure: rec.messageFailure ? 1 : 0,
      nextAttemptAt: rec.nextAttemptAt ?? 0,
      lastStatus: rec.status ?? null,
      lastError: rec.error ?? null,
      at: rec.at,
    }) as { attempts: number } | undefined;
    if (!updated) return; // the event was dropped or deleted meanwhile
    if (rec.attempted) {
      const response = rec.response === undefined ? null : rec.response;
      this.stmt.insertAttempt.run(rec.endpointId, rec.seq, rec.at, rec.outcome, rec.status ?? null, rec.durationMs ?? 0, rec.error ?? null, response);
      const cost = ATTEMPT_OVERHEAD + (response?.length ?? 0) + (rec.error?.length ?? 0);
      if (updated.attempts > MAX_ATTEMPTS_KEPT) this.stmt.trimAttempts.run(rec.seq, rec.endpointId, rec.seq, rec.endpointId);
      else {
        this.stmt.addEventBytes.run(cost, rec.seq);
        this.bytes += cost;
      }
    }
    if (rec.newStatus === 'pending') return;
    const settled = this.stmt.settleEvent.get({ seq: rec.seq, at: rec.at }) as { state: string; remaining: number } | undefined;
    if (settled && settled.remaining === 0) {
      if (settled.state === 'delivered') this.bump('delivered', 1);
      else if (settled.state === 'expired') this.bump('expired', 1);
    }
  }

  counts(): OutboxCounts {
    const byState = new Map<string, number>();
    for (const r of this.stmt.countStates.all() as { state: string; n: number }[]) byState.set(r.state, r.n);
    const c = (n: CounterName) => this.counters.get(n) ?? 0;
    return {
      received: c('received'),
      pending: byState.get('pending') ?? 0,
      delivered: c('delivered'),
      failed: byState.get('failed') ?? 0,
      rejected: c('rejected'),
      dropped: c('dropped'),
      expired: c('expired'),
      deleted: c('deleted'),
      unrouted: byState.get('unrouted') ?? 0,
      bytes: this.bytes,
      maxBytes: this.storage.maxBytes,
      oldestPendingAt: (this.stmt.oldestPending.get() as number | undefined) ?? null,
    };
  }

  pendingByEndpoint(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.stmt.pendingByEndpoint.all() as { id: string; n: number }[]) out.set(r.id, r.n);
    return out;
  }

  /** Commits what is queued; the database itself is closed by its owner. */
  close(): void {
    this.flush();
  }
}
