import { hash } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type Database from 'better-sqlite3';
import type { Db } from './open-db.js';
import { typeMatcher } from './type-match.js';
import { EventIdSource } from './event-id.js';
import { WalSync } from './wal-sync.js';

/**
 * The outbox: the single owner of the SQLite database (DESIGN.md §2). Every statement is
 * prepared once in the constructor; rows are parsed on the way out; times are integer epoch ms.
 *
 * Event states: pending (some delivery not settled), delivered, failed (some delivery is a dead
 * letter), expired, rejected (payload did not parse), unrouted (no endpoint wanted it), deleted
 * (settled by an operator's delete of a delivery; kept for the log like delivered).
 * Counters are cumulative and survive restarts; each received event is counted exactly once in
 * delivered | rejected | dropped | expired | deleted, or is currently pending or failed.
 */

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
}

export interface AppendResult {
  /** stop-ingest and no room: only the first `accepted` events were taken; hold the rest. */
  full: boolean;
  stored: number;
  duplicates: number;
  /** How many events, from the start of the list, were stored or recognised as duplicates. */
  accepted: number;
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
  /**
   * Sync ingest commits on the thread pool (see WalSync) instead of in the commit itself.
   * Default: on, for a file database in WAL mode.
   */
  syncInBackground?: boolean;
}

/** Bytes an event costs beyond its body and payload: row, index entries, delivery rows. */
const EVENT_OVERHEAD = 160;
const DELIVERY_OVERHEAD = 64;
const ATTEMPT_OVERHEAD = 96;
const MAX_ATTEMPTS_KEPT = 20;
const COUNTER_NAMES = [
  'received',
  'rejected',
  'dropped',
  'delivered',
  'expired',
  'deleted',
  'unroutedRemoved',
] as const;
type CounterName = (typeof COUNTER_NAMES)[number];

export class OutboxStore {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly agentJson: string;
  private storage: OutboxStoreDeps['storage'];
  private routes: { id: string; match: (type: string) => boolean }[] = [];
  private readonly counters = new Map<CounterName, number>();
  /** bump()s of the transaction running now: written once at its end, see tx(). */
  private readonly counterDelta = new Map<CounterName, number>();
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly eventIds = new EventIdSource();
  private bytes = 0;
  private readonly pendingWrites: AttemptRecord[] = [];
  private flushScheduled = false;
  private readonly appendListeners = new Set<() => void>();
  private readonly dropListeners = new Set<(seqs: readonly number[]) => void>();
  private readonly settleListeners = new Set<(records: readonly AttemptRecord[]) => void>();
  private readonly ackedIds = new Set<number>();
  /** Set when ingest commits are synced off the event loop; otherwise they commit with FULL. */
  private readonly walSync: WalSync | undefined;
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
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      nextSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).pluck(),
      insertEvent: db.prepare(
        `INSERT INTO events (seq, id, type, topic, received_at, state, remaining, settled_at, body, payload, reject_reason, bytes)
         VALUES (@seq, @id, @type, @topic, @receivedAt, @state, @remaining, @settledAt, @body, @payload, @rejectReason, @bytes)`,
      ),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (endpoint_id, event_seq, status, updated_at) VALUES (?, ?, 'pending', ?)`,
      ),
      inflightGet: db.prepare(`SELECT topic, payload_hash AS hash FROM mqtt_inflight WHERE message_id = ?`),
      inflightPut: db.prepare(
        `INSERT OR REPLACE INTO mqtt_inflight (message_id, event_seq, qos, topic, payload_hash) VALUES (?, ?, ?, ?, ?)`,
      ),
      inflightDel: db.prepare(
        `DELETE FROM mqtt_inflight WHERE message_id IN (SELECT value FROM json_each(?))`,
      ),
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
        `DELETE FROM attempts WHERE event_seq = @seq AND endpoint_id = @endpointId AND id NOT IN
           (SELECT id FROM attempts WHERE event_seq = @seq AND endpoint_id = @endpointId ORDER BY id DESC LIMIT @keep)
         RETURNING @overhead + length(coalesce(response, '')) + length(coalesce(error, '')) AS cost`,
      ),
      updateDelivery: db.prepare(
        `UPDATE deliveries SET status = @status, attempts = attempts + @attempted,
           message_failures = message_failures + @messageFailure, next_attempt_at = @nextAttemptAt,
           last_status = coalesce(@lastStatus, last_status), last_error = @lastError, updated_at = @at,
           last_duration_ms = coalesce(@durationMs, last_duration_ms)
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
      oldestPending: db
        .prepare(`SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1`)
        .pluck(),
      pendingByEndpoint: db.prepare(
        `SELECT endpoint_id AS id, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY endpoint_id`,
      ),
      oldestOfStates: db.prepare(
        `SELECT seq, state, bytes FROM events WHERE state IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
      ),
      prunable: db.prepare(
        `SELECT seq, state, bytes FROM events
         WHERE (state IN ('delivered', 'expired', 'unrouted', 'deleted') AND settled_at < @settledBefore)
            OR (state = 'rejected' AND received_at < @settledBefore)
         ORDER BY seq LIMIT 500`,
      ),
      deleteEvent: db.prepare(`DELETE FROM events WHERE seq = ?`),
      deleteDeliveries: db.prepare(`DELETE FROM deliveries WHERE event_seq = ?`),
      deleteAttempts: db.prepare(`DELETE FROM attempts WHERE event_seq = ?`),
    };
    this.txn = db.transaction((fn: () => unknown) => {
      const result = fn();
      for (const [name, by] of this.counterDelta) if (by !== 0) this.stmt.counterAdd.run(name, by);
      return result;
    });
    for (const name of COUNTER_NAMES) this.counters.set(name, 0);
    for (const row of this.stmt.counterGetAll.all() as { name: CounterName; value: number }[]) {
      this.counters.set(row.name, row.value);
    }
    this.bytes = this.stmt.totalBytes.get() as number;
    const wal =
      !db.memory &&
      !db.readonly &&
      String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    if (wal && deps.syncInBackground !== false) this.walSync = new WalSync(`${db.name}-wal`, this.log);
  }

  /** Which endpoints new events are routed to (type filters); changes apply to new events. */
  setEndpoints(endpoints: readonly RouteTarget[]): void {
    this.routes = endpoints.map((ep) => ({ id: ep.id, match: typeMatcher(ep.types) }));
  }

  setStorage(storage: OutboxStoreDeps['storage']): void {
    this.storage = storage;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction. The counters bump()ed inside it are summed and
   * written once at its end (one UPSERT per counter, not one per event), and reach the
   * in-memory counters only once the transaction has committed.
   */
  private tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    try {
      const result = this.txn.immediate(fn) as T;
      for (const [name, by] of this.counterDelta)
        this.counters.set(name, (this.counters.get(name) ?? 0) + by);
      return result;
    } finally {
      this.counterDelta.clear();
    }
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
   * Group commit: stores every event of `events` in one IMMEDIATE transaction, so the caller
   * can ack them all once afterDurable() says they are on disk (one sync for all). Redeliveries
   * of a packet already stored are skipped.
   */
  append(events: readonly NewEvent[]): AppendResult {
    const now = this.clock.now();
    // Delivery results waiting for their own commit ride along: one fsync for both.
    // If they cannot be applied, the events go alone and the results wait for flush(): a bad
    // result must never keep messages from being stored.
    const results = this.pendingWrites.splice(0, this.pendingWrites.length);
    const store = (): AppendResult => {
      try {
        return this.appendWith(events, results, now);
      } catch (err) {
        if (results.length === 0) throw err;
        this.pendingWrites.unshift(...results);
        return this.appendWith(events, [], now);
      }
    };
    // With a WalSync the commit only writes the WAL; afterDurable() is when it is on disk.
    return this.walSync ? this.withoutSync(store) : store();
  }

  /** Runs `fn` with synchronous=NORMAL: its commits write the WAL without waiting for the disk. */
  private withoutSync<T>(fn: () => T): T {
    this.stmt.syncNormal.run();
    try {
      return fn();
    } finally {
      this.stmt.syncFull.run();
    }
  }

  /**
   * Calls `done` once the events of every append() so far would survive a power cut: at once
   * when they were committed with synchronous=FULL, else after the WAL's next sync, which runs
   * while the event loop goes on. MQTT acks wait for this (DESIGN.md §1.1).
   */
  afterDurable(done: () => void): void {
    if (this.walSync) this.walSync.afterSync(done);
    else done();
  }

  /** Resolves when no afterDurable() callback is waiting any more. */
  durableIdle(): Promise<void> {
    return this.walSync ? this.walSync.idle() : Promise.resolve();
  }

  private appendWith(events: readonly NewEvent[], results: AttemptRecord[], now: number): AppendResult {
    const result = this.tx((): AppendResult => {
      for (const rec of results) this.applyResult(rec);
      let seq = ((this.stmt.nextSeq.get() as number | undefined) ?? 0) + 1;
      let duplicates = 0;
      let stored = 0;
      let accepted = 0;
      // In order, as many as fit: with stop-ingest the rest waits unacked, so a batch held back
      // while the outbox was full can never grow too big to ever fit.
      for (const ev of events) {
        if (ev.mqtt && this.isRedelivery(ev)) {
          duplicates++;
          accepted++;
          continue;
        }
        const row = this.buildRow(ev, seq);
        if (!this.makeRoom(row.bytes, now)) break;
        this.insertRow(row, now);
        // Its guard replaced that of an earlier packet with the same id: an ack noted for
        // that one must not delete this one's.
        if (ev.mqtt) this.ackedIds.delete(ev.mqtt.messageId);
        seq++;
        stored++;
        accepted++;
      }
      // Only now: a packet of this batch may be a re-send of one whose guard goes (re-sends
      // after a broker restart, then the first new packet, in one group commit).
      this.flushAckedIds();
      return { full: accepted < events.length, stored, duplicates, accepted };
    });
    if (results.length > 0) for (const l of this.settleListeners) l(results);
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
    this.stmt.inflightDel.run(JSON.stringify([...this.ackedIds]));
    this.ackedIds.clear();
  }

  /**
   * After a crash (or a lost connection) between commit and PUBACK/PUBREC the broker sends the
   * packet again with the same id and the DUP flag. Same id, topic and payload as a committed
   * packet whose ack is still in doubt: it is that packet. Without DUP a packet is always new.
   */
  private isRedelivery(ev: NewEvent): boolean {
    const m = ev.mqtt!;
    // Brokers set DUP on every re-sent PUBLISH, QoS 1 and 2 alike; without it the packet is new.
    if (!m.dup) return false;
    const row = this.stmt.inflightGet.get(m.messageId) as { topic: string; hash: Buffer } | undefined;
    return row !== undefined && row.topic === ev.topic && row.hash.equals(payloadHash(ev.payload));
  }

  private buildRow(ev: NewEvent, seq: number) {
    const id = this.eventIds.next(ev.receivedAt);
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
    // The raw payload is kept only to re-parse a rejected event.
    const keepPayload = ev.rejected !== undefined;
    const bytes =
      EVENT_OVERHEAD +
      Buffer.byteLength(body) +
      (keepPayload ? ev.payload.length : 0) +
      targets.length * DELIVERY_OVERHEAD;
    if (bytes > this.storage.maxBytes) return this.oversizeRow(ev, seq, id, bytes);
    return { ev, seq, id, body, targets, bytes, keepPayload };
  }

  /**
   * An event that could never fit in storage.maxBytes, even in an empty outbox: waiting for
   * room would hold the MQTT session forever. It is kept as a rejected event without its
   * payload, so it is counted and visible, and ingest goes on.
   */
  private oversizeRow(ev: NewEvent, seq: number, id: string, bytes: number) {
    const rejected = `event of ${bytes} bytes does not fit storage.maxBytes (${this.storage.maxBytes}); payload not kept`;
    const body =
      `{"id":"${id}","type":${JSON.stringify(ev.type)},"timestamp":"${new Date(ev.receivedAt).toISOString()}",` +
      `"agent":${this.agentJson},"seq":${seq},"topic":${JSON.stringify(ev.topic)},"data":null}`;
    const small = { ...ev, rejected, payload: Buffer.alloc(0) };
    return {
      ev: small,
      seq,
      id,
      body,
      targets: [] as typeof this.routes,
      bytes: EVENT_OVERHEAD + Buffer.byteLength(body),
      keepPayload: false,
    };
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
    if (ev.mqtt)
      this.stmt.inflightPut.run(ev.mqtt.messageId, seq, ev.mqtt.qos, ev.topic, payloadHash(ev.payload));
    this.bump('received', 1);
    if (state === 'rejected') this.bump('rejected', 1);
    this.bytes += bytes;
  }

  /** Inside tx() only: counted when the transaction commits. */
  private bump(name: CounterName, by: number): void {
    this.counterDelta.set(name, (this.counterDelta.get(name) ?? 0) + by);
  }

  /**
   * Frees `need` bytes under storage.maxBytes (DESIGN.md §1.4): first delivered events kept only
   * for the log, then — with drop-oldest — the oldest undelivered ones, each counted and logged.
   * Runs inside the append transaction. Returns false when stop-ingest leaves no room.
   */
  private makeRoom(need: number, now: number): boolean {
    const max = this.storage.maxBytes;
    if (this.bytes + need <= max) return true;
    this.removeWhile(
      ['delivered', 'expired', 'unrouted', 'deleted'],
      () => this.bytes + need > max,
      'pruned',
    );
    if (this.bytes + need <= max) return true;
    if (this.storage.whenFull === 'stop-ingest') return false;
    const dropped = this.removeWhile(
      ['pending', 'failed', 'rejected'],
      () => this.bytes + need > max,
      'dropped',
    );
    if (dropped.length > 0) {
      this.log.warn(
        {
          dropped: dropped.length,
          maxBytes: max,
          firstSeq: dropped[0],
          lastSeq: dropped[dropped.length - 1],
        },
        'outbox full: dropped the oldest undelivered events (storage.whenFull = drop-oldest)',
      );
    }
    void now;
    return true;
  }

  private removeWhile(
    states: string[],
    more: () => boolean,
    reason: 'pruned' | 'dropped' | 'deleted',
  ): number[] {
    const removed: number[] = [];
    const statesJson = JSON.stringify(states);
    while (more()) {
      const rows = this.stmt.oldestOfStates.all(statesJson, 256) as {
        seq: number;
        state: string;
        bytes: number;
      }[];
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

  private removeEvent(
    r: { seq: number; state: string; bytes: number },
    reason: 'pruned' | 'dropped' | 'deleted',
  ): void {
    this.stmt.deleteAttempts.run(r.seq);
    this.stmt.deleteDeliveries.run(r.seq);
    this.stmt.deleteEvent.run(r.seq);
    this.bytes -= r.bytes;
    // Events already accounted for (delivered, expired, rejected…) are not counted again.
    if (reason !== 'pruned' && (r.state === 'pending' || r.state === 'failed')) this.bump(reason, 1);
    // "unrouted" is a state while the event is here; once it leaves, a counter keeps it.
    if (r.state === 'unrouted') this.bump('unroutedRemoved', 1);
  }

  /** Removes events delivered longer ago than keepDeliveredHours. Returns how many. */
  prune(): number {
    const settledBefore = this.clock.now() - this.storage.keepDeliveredHours * 3_600_000;
    let total = 0;
    for (;;) {
      const n = this.tx(() => {
        const rows = this.stmt.prunable.all({ settledBefore }) as {
          seq: number;
          state: string;
          bytes: number;
        }[];
        for (const r of rows) this.removeEvent(r, 'pruned');
        return rows.length;
      });
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
    // Delivery results need no sync of their own: lost in a power cut, they only mean the same
    // event is sent again with the same webhook-id, and the next ingest commit, once synced,
    // makes them durable anyway. WAL keeps the database consistent either way.
    this.withoutSync(() =>
      this.tx(() => {
        for (const rec of batch) this.applyResult(rec);
      }),
    );
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
      durationMs: rec.attempted ? Math.round(rec.durationMs ?? 0) : null,
    }) as { attempts: number } | undefined;
    if (!updated) return; // the event was dropped or deleted meanwhile
    // A success at the first attempt is told in full by the deliveries row (see attemptsOf);
    // every other attempt gets its row in the log.
    if (rec.attempted && !(rec.outcome === 'delivered' && updated.attempts === 1))
      this.logAttempt(rec, updated.attempts);
    if (rec.newStatus === 'pending') return;
    const settled = this.stmt.settleEvent.get({ seq: rec.seq, at: rec.at }) as
      | { state: string; remaining: number }
      | undefined;
    if (settled && settled.remaining === 0) {
      if (settled.state === 'delivered') this.bump('delivered', 1);
      else if (settled.state === 'expired') this.bump('expired', 1);
    }
  }

  /**
   * The attempt log counts against storage.maxBytes too: a 503 storm logs an attempt per
   * probe. Each delivery keeps its last MAX_ATTEMPTS_KEPT attempts; when the outbox is full the
   * delivery's older attempts go first, and if there is still no room the attempt is not logged
   * (the delivery row keeps its last status and error).
   */
  private logAttempt(rec: AttemptRecord, attempts: number): void {
    const response = rec.response ?? null;
    const cost = ATTEMPT_OVERHEAD + (response?.length ?? 0) + (rec.error?.length ?? 0);
    if (attempts > MAX_ATTEMPTS_KEPT) this.trimAttempts(rec, MAX_ATTEMPTS_KEPT - 1);
    if (this.bytes + cost > this.storage.maxBytes) {
      this.removeWhile(
        ['delivered', 'expired', 'unrouted'],
        () => this.bytes + cost > this.storage.maxBytes,
        'pruned',
      );
      if (this.bytes + cost > this.storage.maxBytes) this.trimAttempts(rec, 0);
      if (this.bytes + cost > this.storage.maxBytes) return;
    }
    this.stmt.insertAttempt.run(
      rec.endpointId,
      rec.seq,
      rec.at,
      rec.outcome,
      rec.status ?? null,
      rec.durationMs ?? 0,
      rec.error ?? null,
      response,
    );
    this.stmt.addEventBytes.run(cost, rec.seq);
    this.bytes += cost;
  }

  /** Deletes all but the newest `keep` attempts of a delivery, giving their bytes back. */
  private trimAttempts(rec: { seq: number; endpointId: string }, keep: number): void {
    const rows = this.stmt.trimAttempts.all({
      seq: rec.seq,
      endpointId: rec.endpointId,
      keep,
      overhead: ATTEMPT_OVERHEAD,
    }) as { cost: number }[];
    const n = rows.reduce((sum, r) => sum + r.cost, 0);
    if (n <= 0) return;
    this.stmt.addEventBytes.run(-n, rec.seq);
    this.bytes -= n;
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
      unrouted: (byState.get('unrouted') ?? 0) + c('unroutedRemoved'),
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
    this.walSync?.close();
  }

  // ---- admin: delivery log, operator actions, secret expiry (issue 3) ---------------------
  //
  // What the admin API reads and commands (DESIGN.md §2: admin goes through the outbox's own
  // functions). Statements are prepared once, on first use. Every action keeps the invariant
  // of the counters: each received event is counted exactly once in delivered | rejected |
  // dropped | expired | deleted, or is pending | failed | unrouted now. An event put back to
  // pending (retry, replay, redeliver) therefore gives back the count it had; `bytes` stays
  // the sum of the events' `bytes` column.

  private adminStmtCache: ReturnType<OutboxStore['prepareAdmin']> | undefined;

  private get adminStmt() {
    this.adminStmtCache ??= this.prepareAdmin();
    return this.adminStmtCache;
  }

  private prepareAdmin() {
    const db = this.db;
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
      keepFirstAttempt: db.prepare(
        `INSERT INTO attempts (endpoint_id, event_seq, at, outcome, status, duration_ms)
         SELECT endpoint_id, event_seq, updated_at, 'delivered', last_status, coalesce(last_duration_ms, 0) FROM deliveries d
         WHERE d.endpoint_id = @endpointId AND d.event_seq = @seq AND d.status = 'delivered' AND d.attempts = 1
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.endpoint_id = @endpointId AND a.event_seq = @seq)`,
      ),
      event: db.prepare(
        `SELECT seq, id, type, state, remaining, bytes, received_at AS receivedAt FROM events WHERE seq = ?`,
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
      rejected: db.prepare(
        `SELECT seq, id AS eventId, topic, type, received_at AS receivedAt, reject_reason AS reason,
                substr(payload, 1, 256) AS preview
         FROM events WHERE state = 'rejected' AND seq < ? ORDER BY seq DESC LIMIT ?`,
      ),
      routeRejected: db.prepare(
        `UPDATE events SET state = @state, remaining = @remaining, settled_at = @settledAt, bytes = bytes + @bytes
         WHERE seq = @seq AND state = 'rejected'`,
      ),
      counterGet: db.prepare(`SELECT value FROM counters WHERE name = ?`).pluck(),
      secretExpiries: db.prepare(
        `SELECT endpoint_id AS endpointId, secret_hash AS secretHash, expires_at AS expiresAt, until_seq AS untilSeq FROM secret_expiry`,
      ),
      putSecretExpiry: db.prepare(
        `INSERT INTO secret_expiry (endpoint_id, secret_hash, expires_at, until_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT(endpoint_id, secret_hash) DO UPDATE SET expires_at = excluded.expires_at, until_seq = excluded.until_seq`,
      ),
      pendingUpTo: db
        .prepare(
          `SELECT 1 FROM deliveries WHERE endpoint_id = ? AND status = 'pending' AND event_seq <= ? LIMIT 1`,
        )
        .pluck(),
      deleteSecretExpiry: db.prepare(`DELETE FROM secret_expiry WHERE endpoint_id = ? AND secret_hash = ?`),
    };
  }

  /** The delivery log, newest first; `before` (a seq) pages back. A seq's deliveries stay on one page. */
  queryDeliveries(q: DeliveryQuery): { items: DeliveryRow[]; nextBefore: number | null } {
    this.flush();
    const limit = Math.max(1, Math.min(q.limit, 1000));
    const params = {
      endpointId: q.endpointId ?? null,
      status: q.status ?? null,
      type: q.type ?? null,
      from: q.from ?? null,
      to: q.to ?? null,
    };
    const rows = this.adminStmt.queryDeliveries.all({
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
      page = this.adminStmt.deliveriesOfSeq.all({ ...params, seq: boundary }) as RawDeliveryRow[];
    return { items: page.map(parseDeliveryRow), nextBefore: page[page.length - 1]!.seq };
  }

  /** One delivery with the webhook body as sent and its attempts, oldest first. */
  deliveryDetail(
    endpointId: string,
    seq: number,
  ): { delivery: DeliveryRow; body: string; attempts: AttemptRow[] } | undefined {
    this.flush();
    const row = this.adminStmt.delivery.get(endpointId, seq) as
      | (RawDeliveryRow & { body: string })
      | undefined;
    if (!row) return undefined;
    const { body, ...delivery } = row;
    return { delivery: parseDeliveryRow(delivery), body, attempts: this.attemptsOf(endpointId, seq) };
  }

  /** The attempt log of a delivery, oldest first; a first-try success is read off its deliveries row. */
  private attemptsOf(endpointId: string, seq: number): AttemptRow[] {
    const rows = this.adminStmt.attempts.all(endpointId, seq) as AttemptRow[];
    if (rows.length > 0) return rows;
    const first = this.adminStmt.firstAttempt.get(endpointId, seq) as AttemptRow | undefined;
    return first ? [first] : [];
  }

  /**
   * Sends a delivery again now: a pending one skips its wait; a settled one (delivered,
   * failed, expired) becomes pending with a fresh retry schedule. The caller reloads the
   * endpoint's queue.
   */
  retryDelivery(endpointId: string, seq: number): 'queued' | 'not-found' {
    this.flush();
    return this.tx(() =>
      this.requeue(endpointId, seq, this.clock.now(), false) === 'missing' ? 'not-found' : 'queued',
    );
  }

  /**
   * Queues again, for one endpoint, every event received in [from, to] that is still held: the
   * same event ids (so webhook-ids) and bodies. Events already removed (pruned after
   * keepDeliveredHours, dropped, deleted) cannot be: `unavailable` counts the gaps in seq within
   * the range, and `oldestHeldAt` says from when on events are still held (a range starting
   * earlier lost its beginning to pruning). Rejected events go through redeliverRejected; test events of other endpoints and
   * types the endpoint does not take are left out; events older than `notBefore` (maxAgeHours)
   * would expire at once and are counted in `tooOld` instead.
   */
  replay(
    endpointId: string,
    range: { from: number; to: number; types: readonly string[]; notBefore: number },
  ): ReplayOutcome {
    this.flush();
    const now = this.clock.now();
    const wanted = typeMatcher(range.types);
    return this.tx((): ReplayOutcome => {
      const rows = this.adminStmt.eventsInRange.all({ endpointId, from: range.from, to: range.to }) as {
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
      const first = rows[0]?.seq;
      const last = rows[rows.length - 1]?.seq;
      const unavailable = first === undefined || last === undefined ? 0 : last - first + 1 - rows.length;
      return {
        count,
        unavailable,
        tooOld,
        oldestHeldAt: (this.adminStmt.oldestHeld.get() as number | null) ?? null,
      };
    });
  }

  /**
   * Puts one delivery back to pending (inserting it when the event was never routed there),
   * inside the caller's transaction. `reset`: replay starts the retry schedule afresh even for
   * a pending delivery.
   */
  private requeue(endpointId: string, seq: number, now: number, reset: boolean): 'queued' | 'missing' {
    const s = this.adminStmt;
    const ev = s.event.get(seq) as { state: string } | undefined;
    if (!ev || ev.state === 'rejected') return 'missing';
    const status = s.deliveryStatus.get(endpointId, seq) as DeliveryStatus | undefined;
    if (status === 'pending') {
      if (reset) s.resetDelivery.run(now, endpointId, seq);
      else s.retryPending.run(now, endpointId, seq);
      return 'queued';
    }
    if (status === undefined) {
      this.stmt.insertDelivery.run(endpointId, seq, now);
      this.stmt.addEventBytes.run(DELIVERY_OVERHEAD, seq);
      this.bytes += DELIVERY_OVERHEAD;
    } else {
      // Sent again: its first-try success, so far told only by the deliveries row, moves to
      // the attempt log before that row is reset.
      if (s.keepFirstAttempt.run({ endpointId, seq }).changes > 0) {
        this.stmt.addEventBytes.run(ATTEMPT_OVERHEAD, seq);
        this.bytes += ATTEMPT_OVERHEAD;
      }
      s.resetDelivery.run(now, endpointId, seq);
    }
    s.reopenEvent.run(seq);
    // The event leaves a counted final state: give the count back (it is counted again when it settles).
    if (ev.state === 'delivered' || ev.state === 'expired' || ev.state === 'deleted') this.bump(ev.state, -1);
    return 'queued';
  }

  /**
   * An operator's delete of a pending or failed delivery (DESIGN.md §1.1: a counted, visible
   * policy). When that settles the event it is counted as `deleted`; an event left with no
   * delivery at all is removed.
   */
  deleteDelivery(endpointId: string, seq: number): 'deleted' | 'not-found' | 'settled' {
    this.flush();
    let removed = false;
    const result = this.tx(() => {
      const status = this.adminStmt.deliveryStatus.get(endpointId, seq) as DeliveryStatus | undefined;
      if (status === undefined) return 'not-found' as const;
      if (status !== 'pending' && status !== 'failed') return 'settled' as const;
      removed = this.removeDelivery(endpointId, seq, status);
      return 'deleted' as const;
    });
    if (removed) for (const l of this.dropListeners) l([seq]);
    return result;
  }

  /** Deletes every pending or failed delivery of an endpoint (the endpoint was removed). Returns how many. */
  deleteDeliveriesOf(endpointId: string): number {
    this.flush();
    const removedSeqs: number[] = [];
    const n = this.tx(() => {
      const seqs = this.adminStmt.unsettledOf.all(endpointId) as number[];
      for (const seq of seqs) {
        const status = this.adminStmt.deliveryStatus.get(endpointId, seq) as 'pending' | 'failed';
        if (this.removeDelivery(endpointId, seq, status)) removedSeqs.push(seq);
      }
      return seqs.length;
    });
    if (removedSeqs.length > 0) for (const l of this.dropListeners) l(removedSeqs);
    return n;
  }

  /** Inside a transaction. Returns true when the whole event went with it. */
  private removeDelivery(endpointId: string, seq: number, status: 'pending' | 'failed'): boolean {
    const s = this.adminStmt;
    const ev = s.event.get(seq) as { seq: number; state: string; remaining: number; bytes: number };
    s.deleteDeliveryAttempts.run(endpointId, seq);
    s.deleteDelivery.run(endpointId, seq);
    const remaining = status === 'pending' ? ev.remaining - 1 : ev.remaining;
    s.setRemaining.run(remaining, seq);
    // Still waiting for another endpoint: it settles (and is counted) later.
    if (remaining > 0) return false;
    // A failed delivery of an event still pending elsewhere changes nothing more; the last
    // pending one, or one of an event settled as failed, settles the event now.
    if (status === 'failed' && ev.state !== 'failed') return false;
    const others = s.deliveryStatuses.all(seq) as DeliveryStatus[];
    if (others.includes('failed')) {
      if (ev.state !== 'failed') s.settleAs.run('failed', this.clock.now(), seq);
      return false;
    }
    if (others.length === 0) {
      this.removeEvent({ seq, state: ev.state, bytes: ev.bytes }, 'deleted');
      return true;
    }
    // Delivered (or expired) elsewhere: kept for the log, counted once, as deleted.
    s.settleAs.run('deleted', this.clock.now(), seq);
    this.bump('deleted', 1);
    return false;
  }

  /** Queues a test event (type "edgehook.test") to one endpoint only, whatever its `types`. */
  enqueueTest(endpointId: string, data: Record<string, unknown>): { eventId: string; seq: number } | 'full' {
    const now = this.clock.now();
    const json = JSON.stringify(data);
    const result = this.tx(() => {
      this.flushAckedIds();
      const seq = ((this.stmt.nextSeq.get() as number | undefined) ?? 0) + 1;
      const built = this.buildRow(
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
      if (!this.makeRoom(row.bytes, now)) return undefined;
      this.insertRow(row, now);
      return { eventId: row.id, seq };
    });
    if (!result) return 'full';
    for (const l of this.appendListeners) l();
    return result;
  }

  /** Rejected events (payload did not parse as declared), newest first, with their reason. */
  rejectedEvents(q: { before?: number | undefined; limit: number }): RejectedEventRow[] {
    const rows = this.adminStmt.rejected.all(
      q.before ?? Number.MAX_SAFE_INTEGER,
      Math.max(1, Math.min(q.limit, 1000)),
    ) as (Omit<RejectedEventRow, 'preview'> & { preview: Buffer | null })[];
    return rows.map((r) => ({ ...r, preview: r.preview ?? Buffer.alloc(0) }));
  }

  /**
   * Routes a rejected event to the endpoints that take its type; its body already carries the
   * raw payload as base64 (`"encoding":"base64"`). Undefined when there is no such rejected event.
   */
  redeliverRejected(seq: number): { endpoints: string[] } | undefined {
    this.flush();
    const now = this.clock.now();
    const result = this.tx(() => {
      const ev = this.adminStmt.event.get(seq) as { type: string; state: string } | undefined;
      if (ev?.state !== 'rejected') return undefined;
      const targets = this.routes.filter((r) => r.match(ev.type));
      for (const t of targets) this.stmt.insertDelivery.run(t.id, seq, now);
      const bytes = targets.length * DELIVERY_OVERHEAD;
      this.adminStmt.routeRejected.run({
        seq,
        state: targets.length > 0 ? 'pending' : 'unrouted',
        remaining: targets.length,
        settledAt: targets.length > 0 ? null : now,
        bytes,
      });
      this.bytes += bytes;
      // No longer counted as rejected; `redelivered` keeps the total ever rejected for /metrics.
      this.bump('rejected', -1);
      this.stmt.counterAdd.run(REDELIVERED_COUNTER, 1);
      return { endpoints: targets.map((t) => t.id) };
    });
    if (result && result.endpoints.length > 0) for (const l of this.appendListeners) l();
    return result;
  }

  /** Events ever rejected, including those since redelivered (a monotonic count for /metrics). */
  rejectedEver(): number {
    return (
      (this.counters.get('rejected') ?? 0) +
      ((this.adminStmt.counterGet.get(REDELIVERED_COUNTER) as number | undefined) ?? 0)
    );
  }

  secretExpiries(): SecretExpiryRow[] {
    return this.adminStmt.secretExpiries.all() as SecretExpiryRow[];
  }

  setSecretExpiry(endpointId: string, secretHash: string, expiresAt: number, untilSeq = 0): void {
    this.adminStmt.putSecretExpiry.run(endpointId, secretHash, expiresAt, untilSeq);
  }

  /** The seq of the newest event received so far (0 when none). */
  latestSeq(): number {
    return (this.stmt.nextSeq.get() as number | undefined) ?? 0;
  }

  /** Whether the endpoint still has an undelivered event with seq ≤ `seq`. */
  hasPendingUpTo(endpointId: string, seq: number): boolean {
    this.flush();
    return this.adminStmt.pendingUpTo.get(endpointId, seq) !== undefined;
  }

  deleteSecretExpiry(endpointId: string, secretHash: string): void {
    this.adminStmt.deleteSecretExpiry.run(endpointId, secretHash);
  }
}

// ---- admin (issue 3): shapes of the delivery log and operator actions ----------------------

export const TEST_EVENT_TYPE = 'edgehook.test';
export const TEST_EVENT_TOPIC = 'edgehook/test';
/** counters row: rejected events since redelivered (they leave `rejected`, see redeliverRejected). */
const REDELIVERED_COUNTER = 'redelivered';

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

/** What a redelivered MQTT packet is recognised by, beside its topic and packet id. */
function payloadHash(payload: Buffer): Buffer {
  return hash('sha256', payload, 'buffer');
}
