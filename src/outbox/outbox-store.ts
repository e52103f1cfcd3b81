import type { Logger } from '../log.js';
import { Ledger, type CounterName } from './ledger.js';
import type { IngestStage } from './ingest-stage.js';
import { DeliveryLog, type DeliveryQuery, type SecretExpiryRow } from './delivery-log.js';
import { OperatorActions } from './operator-actions.js';
import { type RemovableEvent, type RemoveReason, RoomKeeper } from './room-keeper.js';
import { ResultRecorder } from './result-recorder.js';
import { type BuiltRow, EventRows, type Route } from './event-rows.js';
import { IngestWriter } from './ingest-writer.js';
import type {
  AppendResult,
  AttemptRecord,
  NewEvent,
  OutboxCounts,
  OutboxStoreDeps,
  PendingDelivery,
  RouteTarget,
} from './outbox-types.js';

export type { BuiltRow } from './event-rows.js';
export type * from './outbox-types.js';

/**
 * The outbox: the single owner of the SQLite database (docs/architecture.md, "The data path").
 * Every statement is prepared once, when its part is made (the admin's on first use); rows are
 * parsed on the way out; times are integer epoch ms.
 *
 * Event states: pending (some delivery not settled), delivered, failed (some delivery is a dead
 * letter), expired, rejected (payload did not parse), unrouted (no endpoint wanted it), deleted
 * (settled by an operator's delete of a delivery; kept for the log like delivered).
 * Counters are cumulative and survive restarts; each received event is counted exactly once in
 * delivered | rejected | dropped | expired | deleted, or is currently pending or failed.
 *
 * This class is the outbox's face; the work is done by its parts, each in its own file:
 * IngestWriter (group commits of new events, with the RedeliveryGuard, and when they are on
 * disk), EventRows (a new event's rows), RoomKeeper (room under storage.maxBytes, pruning, a
 * full disk), ResultRecorder (delivery results), Ledger (counters and bytes, changed only once a
 * transaction commits), DeliveryLog (what the admin API reads) and OperatorActions (what an
 * operator does). The types they share are in outbox-types.ts.
 */

export class OutboxStore {
  private readonly log: Logger;
  private storage: OutboxStoreDeps['storage'];
  readonly ledger: Ledger;
  /** New events' rows: webhook body, routing, cost against storage.maxBytes. */
  private readonly rows: EventRows;
  /** Room under storage.maxBytes: what goes when new events need it, pruning, a full disk. */
  private readonly room: RoomKeeper;
  /** Delivery results, queued until a commit takes them. */
  private readonly results: ResultRecorder;
  /** Group commits of MQTT messages and timers' events, and when they are on disk. */
  private readonly writer: IngestWriter;
  private readonly stmt;
  /** The read-only delivery log the admin API shows. */
  readonly deliveryLog: DeliveryLog;
  /** What an operator may do to deliveries and events (retry, replay, delete, test-send). */
  readonly actions: OperatorActions;

  constructor(deps: OutboxStoreDeps) {
    const { db, clock, disk, logger } = deps;
    this.log = logger;
    this.storage = deps.storage;
    const storage = () => this.storage;
    this.ledger = new Ledger({
      db,
      onListenerError: (err, what) =>
        this.log.error({ err: (err as Error)?.message ?? String(err), what }, 'outbox listener failed'),
    });
    const ledger = this.ledger;
    this.stmt = {
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
      countStates: db.prepare(`SELECT state, count(*) AS n FROM events GROUP BY state`),
      oldestPending: db
        .prepare(`SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1`)
        .pluck(),
      pendingByEndpoint: db.prepare(
        `SELECT endpoint_id AS id, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY endpoint_id`,
      ),
    };
    this.rows = new EventRows({ db, ledger, agentId: deps.agentId, endpoints: deps.endpoints, storage });
    this.room = new RoomKeeper({ db, ledger, logger, clock, storage });
    this.results = new ResultRecorder({
      db,
      ledger,
      logger,
      disk,
      storage,
      room: this.room,
      addEventBytes: (n, seq) => this.rows.addEventBytes(n, seq),
      withoutSync: (fn) => this.writer.withoutSync(fn),
    });
    this.writer = new IngestWriter({
      db,
      ledger,
      logger,
      clock,
      disk,
      rows: this.rows,
      room: this.room,
      results: this.results,
    });
    this.deliveryLog = new DeliveryLog({ db, ledger, beforeRead: () => this.commitResults() });
    this.actions = new OperatorActions({ db, core: this, clock });
  }

  /** Which endpoints new events are routed to (type filters); changes apply to new events. */
  setEndpoints(endpoints: readonly RouteTarget[]): void {
    this.rows.setEndpoints(endpoints);
  }

  setStorage(storage: OutboxStoreDeps['storage']): void {
    this.storage = storage;
  }

  /** Work that joins every ingest commit (see IngestStage); undefined: messages are stored as they come. */
  setIngestStage(stage: IngestStage | undefined): void {
    this.writer.setStage(stage);
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
   * Group commit of MQTT messages (see IngestWriter.append): the caller acks them once
   * afterDurable() says they are on disk. Throws when the transaction fails: then nothing of it
   * was stored, and nothing in memory changed.
   */
  append(messages: readonly NewEvent[]): AppendResult {
    return this.writer.append(messages);
  }

  /** Stores events a timer emits, with what `fn` writes (see IngestWriter.appendEmitted). */
  appendEmitted(fn: (now: number) => readonly NewEvent[]): number {
    return this.writer.appendEmitted(fn);
  }

  /** Calls `done` once the events of every append() so far would survive a power cut. */
  afterDurable(done: () => void): void {
    this.writer.afterDurable(done);
  }

  /** Resolves when no afterDurable() callback is waiting any more. */
  durableIdle(): Promise<void> {
    return this.writer.durableIdle();
  }

  /** A QoS 1/2 packet id whose ack reached the broker: its redelivery guard can go. */
  markAcked(messageId: number): void {
    this.writer.markAcked(messageId);
  }

  /** The broker has no session for us: nothing will be redelivered. Throws when the write fails. */
  clearInflight(): void {
    this.writer.clearInflight();
  }

  /** For the outbox's own parts: the row of a new event, not yet written. */
  buildRow(ev: NewEvent, seq: number): BuiltRow {
    return this.rows.buildRow(ev, seq);
  }

  /** Endpoints (of the routes) that take an event type. */
  routesFor(type: string): Route[] {
    return this.rows.routesFor(type);
  }

  /** For the outbox's own parts, inside a transaction: writes a built row and its deliveries. */
  insertRow(row: BuiltRow, now: number): void {
    this.rows.insertRow(row, now);
  }

  /** For the outbox's own parts, inside a transaction: a new pending delivery of a stored event. */
  insertDelivery(endpointId: string, seq: number, now: number): void {
    this.rows.insertDelivery(endpointId, seq, now);
  }

  /** For the outbox's own parts, inside a transaction: bytes added to (or taken from) an event. */
  addEventBytes(n: number, seq: number): void {
    this.rows.addEventBytes(n, seq);
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
      this.writer.close();
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
