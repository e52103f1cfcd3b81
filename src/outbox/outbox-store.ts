import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Db } from './open-db.js';
import { typeMatcher } from './type-match.js';
import { EventIdSource } from './event-id.js';
import { WalSync } from './wal-sync.js';
import { DELIVERY_OVERHEAD, EVENT_OVERHEAD } from './row-costs.js';
import { Ledger, type CounterName } from './ledger.js';
import { RedeliveryGuard } from './redelivery-guard.js';
import type { IngestStage } from './ingest-stage.js';
import { DeliveryLog, type DeliveryQuery, type SecretExpiryRow } from './delivery-log.js';
import { OperatorActions } from './operator-actions.js';
import { type RemovableEvent, type RemoveReason, RoomKeeper } from './room-keeper.js';
import { ResultRecorder } from './result-recorder.js';
import type {
  AppendResult,
  AttemptRecord,
  NewEvent,
  OutboxCounts,
  OutboxStoreDeps,
  PendingDelivery,
  RouteTarget,
} from './outbox-types.js';

export type * from './outbox-types.js';

/**
 * The outbox: the single owner of the SQLite database (docs/architecture.md, "The data path"). Every statement is
 * prepared once in the constructor; rows are parsed on the way out; times are integer epoch ms.
 *
 * Event states: pending (some delivery not settled), delivered, failed (some delivery is a dead
 * letter), expired, rejected (payload did not parse), unrouted (no endpoint wanted it), deleted
 * (settled by an operator's delete of a delivery; kept for the log like delivered).
 * Counters are cumulative and survive restarts; each received event is counted exactly once in
 * delivered | rejected | dropped | expired | deleted, or is currently pending or failed.
 *
 * Its parts: RoomKeeper (room under storage.maxBytes, pruning, a full disk), ResultRecorder
 * (delivery results), RedeliveryGuard, DeliveryLog (what the admin API reads) and
 * OperatorActions (what an operator does); the types they share are in outbox-types.ts.
 */

/** Thrown inside a message's savepoint when stop-ingest leaves no room: undoes that message. */
class NoRoom extends Error {}

export type BuiltRow = ReturnType<OutboxStore['buildRow']>;

export class OutboxStore {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly agentJson: string;
  private storage: OutboxStoreDeps['storage'];
  private routes: { id: string; match: (type: string) => boolean }[] = [];
  readonly ledger: Ledger;
  private readonly guard: RedeliveryGuard;
  private readonly eventIds = new EventIdSource();
  /** Room under storage.maxBytes: what goes when new events need it, pruning, a full disk. */
  private readonly room: RoomKeeper;
  /** Delivery results, queued until a commit takes them. */
  private readonly results: ResultRecorder;
  private stage: IngestStage | undefined;
  /** The seq the next event of the running ingest transaction gets (read once per commit). */
  private seqCursor = 0;
  /** Set when ingest commits are synced off the event loop; otherwise they commit with FULL. */
  private readonly walSync: WalSync | undefined;
  private readonly stmt;
  /** The read-only delivery log the admin API shows. */
  readonly deliveryLog: DeliveryLog;
  /** What an operator may do to deliveries and events (retry, replay, delete, test-send). */
  readonly actions: OperatorActions;

  constructor(private readonly deps: OutboxStoreDeps) {
    this.db = deps.db;
    this.log = deps.logger;
    this.clock = deps.clock;
    this.agentJson = JSON.stringify(deps.agentId);
    this.storage = deps.storage;
    this.setEndpoints(deps.endpoints);
    const db = this.db;
    this.ledger = new Ledger({
      db,
      onListenerError: (err, what) =>
        this.log.error({ err: (err as Error)?.message ?? String(err), what }, 'outbox listener failed'),
    });
    this.guard = new RedeliveryGuard(db, this.ledger);
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
      addEventBytes: db.prepare(`UPDATE events SET bytes = bytes + ? WHERE seq = ?`),
      countStates: db.prepare(`SELECT state, count(*) AS n FROM events GROUP BY state`),
      oldestPending: db
        .prepare(`SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1`)
        .pluck(),
      pendingByEndpoint: db.prepare(
        `SELECT endpoint_id AS id, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY endpoint_id`,
      ),
    };
    const wal =
      !db.memory &&
      !db.readonly &&
      String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    if (wal) this.walSync = new WalSync(`${db.name}-wal`, this.log);
    const storage = () => this.storage;
    this.room = new RoomKeeper({ db, ledger: this.ledger, logger: this.log, clock: this.clock, storage });
    this.results = new ResultRecorder({
      db,
      ledger: this.ledger,
      logger: this.log,
      disk: deps.disk,
      storage,
      room: this.room,
      addEventBytes: (n, seq) => this.addEventBytes(n, seq),
      withoutSync: (fn) => this.withoutSync(fn),
    });
    this.deliveryLog = new DeliveryLog({ db, ledger: this.ledger, beforeRead: () => this.commitResults() });
    this.actions = new OperatorActions({ db, core: this, clock: this.clock });
  }

  /** Which endpoints new events are routed to (type filters); changes apply to new events. */
  setEndpoints(endpoints: readonly RouteTarget[]): void {
    this.routes = endpoints.map((ep) => ({ id: ep.id, match: typeMatcher(ep.types) }));
  }

  setStorage(storage: OutboxStoreDeps['storage']): void {
    this.storage = storage;
  }

  /** Work that joins every ingest commit (see IngestStage); undefined: messages are stored as they come. */
  setIngestStage(stage: IngestStage | undefined): void {
    this.stage = stage;
  }

  /** Runs `fn` in one IMMEDIATE transaction; memory and listeners follow only its commit (see Ledger). */
  tx<T>(fn: () => T): T {
    return this.ledger.tx(fn);
  }

  onAppend(listener: () => void): () => void {
    return this.ledger.onAppend(listener);
  }

  /** Called with the seqs of events removed to make room (drop-oldest) or by an operator, once committed. */
  onRemoved(listener: (seqs: readonly number[]) => void): () => void {
    return this.ledger.onRemoved(listener);
  }

  /** Called after delivery results are committed (for live views and metrics). */
  onResults(listener: (records: readonly AttemptRecord[]) => void): () => void {
    return this.results.onResults(listener);
  }

  /**
   * Group commit: stores every message of `messages` in one IMMEDIATE transaction, so the caller
   * can ack them all once afterDurable() says they are on disk (one sync for all). Redeliveries
   * of a packet already stored are skipped. Throws when the transaction fails: then nothing of
   * it was stored, and nothing in memory changed.
   */
  append(messages: readonly NewEvent[]): AppendResult {
    const disk = this.deps.disk;
    const holding = (): AppendResult => ({
      full: true,
      stored: 0,
      duplicates: 0,
      accepted: 0,
      disk: disk!.state,
    });
    if (disk && !disk.mayIngest()) return holding();
    // Under disk pressure delivery results go first: they settle events, which frees room.
    if (disk && disk.state !== 'ok' && this.results.queued.length > 0 && !this.tryCommitResults())
      return holding();
    const limit = disk ? disk.groupLimit() : Number.POSITIVE_INFINITY;
    const taken = messages.length > limit ? messages.slice(0, limit) : messages;
    let result: AppendResult;
    try {
      result = this.appendNow(taken);
    } catch (err) {
      if (disk?.noteWriteError(err)) return holding();
      throw err;
    }
    disk?.noteWriteOk();
    if (taken !== messages) result = { ...result, full: true, limited: true };
    return result;
  }

  private appendNow(messages: readonly NewEvent[]): AppendResult {
    const now = this.clock.now();
    // Delivery results waiting for their own commit ride along: one fsync for both. If the
    // commit with them fails, the messages are tried alone, so that a bad result never keeps
    // messages from being stored; the results stay queued either way until a commit takes them.
    const results = this.results.queued.length > 0 ? this.results.queued.slice() : [];
    const store = (): AppendResult => {
      if (results.length > 0) {
        try {
          return this.appendFitting(messages, results, now);
        } catch (err) {
          this.log.warn(
            { err: (err as Error).message, results: results.length },
            'could not commit delivery results with new messages; storing the messages alone',
          );
        }
      }
      return this.appendFitting(messages, [], now);
    };
    // With a WalSync the commit only writes the WAL; afterDurable() is when it is on disk.
    return this.walSync ? this.withoutSync(store) : store();
  }

  /**
   * Stores events that no MQTT message brings now (a timer's: a throttled message released, a
   * window closed), together with whatever `fn` writes to its own tables, in one transaction.
   * `fn` runs inside it. Returns how many events were stored; throws when the commit fails.
   */
  appendEmitted(fn: (now: number) => readonly NewEvent[]): number {
    const now = this.clock.now();
    try {
      return this.tx(() => {
        let n = 0;
        for (const ev of fn(now)) {
          const row = this.buildRow(ev, this.nextSeq());
          if (!this.makeRoom(row.bytes)) throw new NoRoom('outbox full (stop-ingest)');
          this.insertRow(row, now);
          n++;
        }
        return n;
      });
    } catch (err) {
      this.deps.disk?.noteWriteError(err);
      throw err;
    }
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
   * while the event loop goes on. MQTT acks wait for this (README, "Guarantees").
   */
  afterDurable(done: () => void): void {
    if (this.walSync) this.walSync.afterSync(done);
    else done();
  }

  /** Resolves when no afterDurable() callback is waiting any more. */
  durableIdle(): Promise<void> {
    return this.walSync ? this.walSync.idle() : Promise.resolve();
  }

  /**
   * With a stage, a message's room is known only once the stage has run (and written its state),
   * so a message that does not fit must be undone alone. A savepoint per message costs about as
   * much as the rest of its storing (SQLite copies each page it touches first), so the group is
   * stored without them first; only when a message does not fit (stop-ingest on a full outbox) is
   * the whole transaction rolled back and run again with one savepoint per message.
   */
  private appendFitting(messages: readonly NewEvent[], results: AttemptRecord[], now: number): AppendResult {
    if (!this.stage) return this.appendWith(messages, results, now, true);
    try {
      return this.appendWith(messages, results, now, false);
    } catch (err) {
      if (!(err instanceof NoRoom)) throw err;
    }
    return this.appendWith(messages, results, now, true);
  }

  private appendWith(
    messages: readonly NewEvent[],
    results: AttemptRecord[],
    now: number,
    savepoints: boolean,
  ): AppendResult {
    const result = this.tx((): AppendResult => {
      for (const rec of results) this.results.apply(rec);
      this.guard.begin();
      this.seqCursor = this.nextSeq();
      let duplicates = 0;
      let stored = 0;
      let accepted = 0;
      // In order, as many as fit: with stop-ingest the rest waits unacked, so a batch held back
      // while the outbox was full can never grow too big to ever fit.
      for (const msg of messages) {
        if (msg.mqtt && this.guard.isRedelivery(msg)) {
          duplicates++;
          accepted++;
          continue;
        }
        const n = this.storeMessage(msg, now, savepoints);
        if (n === undefined) break;
        stored += n;
        accepted++;
      }
      this.guard.deleteAcked();
      return { full: accepted < messages.length, stored, duplicates, accepted };
    });
    if (results.length > 0) this.results.committed(results);
    return result;
  }

  /**
   * One message's events (and its stage's state); undefined when there is no room. With a stage
   * and `savepoints`, in a savepoint that undoes the message when it does not fit; without, a
   * message that does not fit throws NoRoom (the whole transaction rolls back).
   */
  private storeMessage(msg: NewEvent, now: number, savepoints: boolean): number | undefined {
    const run = (): number => {
      const events = this.stage
        ? this.stage.process(msg, { now, afterCommit: (fn) => this.ledger.afterCommit(fn) })
        : [msg];
      let first = 0;
      for (const ev of events) {
        const row = this.buildRow(ev, this.seqCursor);
        if (!this.makeRoom(row.bytes)) throw new NoRoom();
        this.insertRow(row, now);
        this.seqCursor++;
        first ||= row.seq;
      }
      this.guard.put(msg, first);
      return events.length;
    };
    // Without a stage a message is one row, and makeRoom() decides before anything is written.
    if (!this.stage) {
      const row = this.buildRow(msg, this.seqCursor);
      if (!this.makeRoom(row.bytes)) return undefined;
      this.insertRow(row, now);
      this.seqCursor++;
      this.guard.put(msg, row.seq);
      return 1;
    }
    if (!savepoints) return run();
    const cursor = this.seqCursor;
    try {
      return this.ledger.savepoint(run);
    } catch (err) {
      this.seqCursor = cursor;
      if (err instanceof NoRoom) return undefined;
      throw err;
    }
  }

  private nextSeq(): number {
    return ((this.stmt.nextSeq.get() as number | undefined) ?? 0) + 1;
  }

  /** A QoS 1/2 packet id whose ack reached the broker: its redelivery guard can go. */
  markAcked(messageId: number): void {
    this.guard.markAcked(messageId);
  }

  /** The broker has no session for us: nothing will be redelivered. Throws when the write fails. */
  clearInflight(): void {
    this.guard.clear();
  }

  /** For the outbox's own parts: the row of a new event, not yet written. */
  buildRow(ev: NewEvent, seq: number) {
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

  /** Endpoints (of the routes) that take an event type. */
  routesFor(type: string): { id: string; match: (type: string) => boolean }[] {
    return this.routes.filter((r) => r.match(type));
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

  /** For the outbox's own parts, inside a transaction: writes a built row and its deliveries. */
  insertRow(row: BuiltRow, now: number): void {
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
    this.ledger.bump('received', 1);
    if (state === 'rejected') this.ledger.bump('rejected', 1);
    this.ledger.addBytes(bytes);
    if (targets.length > 0) this.ledger.noteAppended();
  }

  /** For the outbox's own parts, inside a transaction: a new pending delivery of a stored event. */
  insertDelivery(endpointId: string, seq: number, now: number): void {
    this.stmt.insertDelivery.run(endpointId, seq, now);
    this.addEventBytes(DELIVERY_OVERHEAD, seq);
  }

  /** For the outbox's own parts, inside a transaction: bytes added to (or taken from) an event. */
  addEventBytes(n: number, seq: number): void {
    this.stmt.addEventBytes.run(n, seq);
    this.ledger.addBytes(n);
  }

  /** For the outbox's own parts, inside a transaction: see RoomKeeper.makeRoom. */
  makeRoom(need: number): boolean {
    return this.room.makeRoom(need);
  }

  /** For the outbox's own parts, inside a transaction: an event and everything of it goes. */
  removeEvent(r: RemovableEvent, reason: RemoveReason): void {
    this.room.removeEvent(r, reason);
  }

  /** See RoomKeeper.prune. */
  prune(underPressure = false): number {
    return this.room.prune(underPressure);
  }

  /** See RoomKeeper.relieveDiskPressure. */
  relieveDiskPressure(): void {
    this.room.relieveDiskPressure();
  }

  /** Bytes of the database's free pages: room new rows take without growing the file. */
  freeBytesInside(): number {
    return this.room.freeBytesInside();
  }

  /** Up to `limit` pending deliveries of an endpoint after `afterSeq`, in order. */
  loadPending(endpointId: string, afterSeq: number, limit: number): PendingDelivery[] {
    return this.stmt.loadPending.all(endpointId, afterSeq, limit) as PendingDelivery[];
  }

  /**
   * Pending deliveries at or below `uptoSeq` whose retry time has come. Queued results are
   * committed first when they can be (a delivery just settled must not be sent again); a failed
   * commit only means the read sees them as still pending, which costs a duplicate at worst.
   */
  loadDue(endpointId: string, uptoSeq: number, now: number, limit: number): PendingDelivery[] {
    this.tryCommitResults();
    return this.stmt.loadDue.all(endpointId, uptoSeq, now, limit) as PendingDelivery[];
  }

  /** Queues the result of an attempt (see ResultRecorder.record). Never throws. */
  record(rec: AttemptRecord): void {
    this.results.record(rec);
  }

  /** commitResults(), reporting a failure and trying again later instead of throwing. */
  tryCommitResults(): boolean {
    return this.results.tryCommit();
  }

  /**
   * Commits queued results now. Throws when the commit fails: the results stay queued (they are
   * taken off the queue only once committed).
   */
  commitResults(): void {
    this.results.commit();
  }

  /**
   * Every count of the outbox. `pending`, `failed` and `unrouted` are counted from an index, a
   * scan that grows with the outbox; `totals()` has the rest without it.
   */
  counts(): OutboxCounts {
    const byState = new Map<string, number>();
    for (const r of this.stmt.countStates.all() as { state: string; n: number }[]) byState.set(r.state, r.n);
    return {
      ...this.totals(),
      pending: byState.get('pending') ?? 0,
      failed: byState.get('failed') ?? 0,
      unrouted: (byState.get('unrouted') ?? 0) + this.ledger.counter('unroutedRemoved'),
      oldestPendingAt: (this.stmt.oldestPending.get() as number | undefined) ?? null,
    };
  }

  /** The cumulative counts and the bytes, kept beside the database: no query. */
  totals(): Omit<OutboxCounts, 'pending' | 'failed' | 'unrouted' | 'oldestPendingAt'> {
    const c = (n: CounterName) => this.ledger.counter(n);
    return {
      received: c('received'),
      delivered: c('delivered'),
      rejected: c('rejected'),
      dropped: c('dropped'),
      expired: c('expired'),
      deleted: c('deleted'),
      prunedForDisk: c('prunedForDisk'),
      bytes: this.ledger.bytes,
      maxBytes: this.storage.maxBytes,
    };
  }

  pendingByEndpoint(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.stmt.pendingByEndpoint.all() as { id: string; n: number }[]) out.set(r.id, r.n);
    return out;
  }

  /**
   * Commits what is queued (when it can: results not committed are only sent again later) and
   * stops the WAL sync; the database itself is closed by its owner.
   */
  close(): void {
    this.results.stop();
    try {
      this.commitResults();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not commit the last delivery results at stop');
    } finally {
      this.walSync?.close();
    }
  }

  // ---- the admin surface, kept here so existing callers need not know the parts -------------

  queryDeliveries(q: DeliveryQuery) {
    return this.deliveryLog.queryDeliveries(q);
  }
  deliveryDetail(endpointId: string, seq: number) {
    return this.deliveryLog.deliveryDetail(endpointId, seq);
  }
  rejectedEvents(q: { before?: number | undefined; limit: number }) {
    return this.deliveryLog.rejectedEvents(q);
  }
  rejectedEver(): number {
    return this.deliveryLog.rejectedEver();
  }
  secretExpiries() {
    return this.deliveryLog.secretExpiries();
  }
  latestSeq(): number {
    return this.deliveryLog.latestSeq();
  }
  hasPendingUpTo(endpointId: string, seq: number): boolean {
    return this.deliveryLog.hasPendingUpTo(endpointId, seq);
  }
  retryDelivery(endpointId: string, seq: number) {
    return this.actions.retryDelivery(endpointId, seq);
  }
  replay(
    endpointId: string,
    range: { from: number; to: number; types: readonly string[]; notBefore: number },
  ) {
    return this.actions.replay(endpointId, range);
  }
  deleteDelivery(endpointId: string, seq: number) {
    return this.actions.deleteDelivery(endpointId, seq);
  }
  deleteDeliveriesOf(endpointId: string): number {
    return this.actions.deleteDeliveriesOf(endpointId);
  }
  enqueueTest(endpointId: string, data: Record<string, unknown>) {
    return this.actions.enqueueTest(endpointId, data);
  }
  redeliverRejected(seq: number) {
    return this.actions.redeliverRejected(seq);
  }
  setSecretExpiries(rows: readonly SecretExpiryRow[], opts: { untilLatest?: boolean } = {}): void {
    this.actions.setSecretExpiries(rows, opts);
  }
  deleteSecretExpiry(endpointId: string, secretHash: string): void {
    this.actions.deleteSecretExpiry(endpointId, secretHash);
  }
}

/**
 * What the admin API may do with the outbox: read it and command operator actions, never
 * append events or commit delivery results.
 */
export type AdminOutbox = Pick<
  OutboxStore,
  | 'counts'
  | 'totals'
  | 'pendingByEndpoint'
  | 'queryDeliveries'
  | 'deliveryDetail'
  | 'rejectedEvents'
  | 'rejectedEver'
  | 'secretExpiries'
  | 'latestSeq'
  | 'hasPendingUpTo'
  | 'retryDelivery'
  | 'replay'
  | 'deleteDelivery'
  | 'deleteDeliveriesOf'
  | 'enqueueTest'
  | 'redeliverRejected'
  | 'setSecretExpiries'
  | 'deleteSecretExpiry'
  | 'onResults'
  | 'onAppend'
>;

export {
  TEST_EVENT_TOPIC,
  TEST_EVENT_TYPE,
  type AttemptRow,
  type DeliveryQuery,
  type DeliveryRow,
  type RejectedEventRow,
  type ReplayOutcome,
  type SecretExpiryRow,
} from './delivery-log.js';
