import type { Logger } from '../log.js';
import type { Db } from './open-db.js';
import type { Ledger } from './ledger.js';
import type { DiskGuard } from './disk-guard.js';
import type { RoomKeeper } from './room-keeper.js';
import type { AttemptRecord, OutboxStoreDeps } from './outbox-types.js';
import { ATTEMPT_OVERHEAD } from './row-costs.js';

const MAX_ATTEMPTS_KEPT = 20;
/** Queued delivery results are committed once this many wait, or a few ms after the first. */
const RESULTS_PER_COMMIT = 512;
/** A failed result commit is tried again after this long; the results stay queued. */
const RESULTS_RETRY_MS = 1000;

export interface ResultRecorderDeps {
  db: Db;
  ledger: Ledger;
  logger: Logger;
  /** Told of every failed commit (a full disk is announced once, by the guard). */
  disk?: DiskGuard | undefined;
  /** The storage settings as they are now (a reloaded config changes them). */
  storage: () => OutboxStoreDeps['storage'];
  room: RoomKeeper;
  /** Inside a transaction: bytes added to (or taken from) an event and the outbox's total. */
  addEventBytes: (n: number, seq: number) => void;
  /** Runs `fn` with synchronous=NORMAL: its commits write the WAL without waiting for the disk. */
  withoutSync: (fn: () => void) => void;
}

/**
 * Delivery results on their way into the outbox: queued as the senders report them, committed
 * together a moment later (one fsync for many, or riding along with the next ingest commit), and
 * told to listeners only once committed. A result settles its delivery, logs the attempt (within
 * storage.maxBytes), and settles its event once no delivery of it is pending.
 */
export class ResultRecorder {
  private readonly deps: ResultRecorderDeps;
  private readonly ledger: Ledger;
  private readonly log: Logger;
  private readonly queue: AttemptRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(records: readonly AttemptRecord[]) => void>();
  private readonly stmt;

  constructor(deps: ResultRecorderDeps) {
    this.deps = deps;
    this.ledger = deps.ledger;
    this.log = deps.logger;
    const db = deps.db;
    this.stmt = {
      insertAttempt: db.prepare(
        `INSERT INTO attempts (endpoint_id, event_seq, at, outcome, status, duration_ms, error, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      trimAttempts: db.prepare(
        `DELETE FROM attempts WHERE event_seq = @seq AND endpoint_id = @endpointId AND id NOT IN
           (SELECT id FROM attempts WHERE event_seq = @seq AND endpoint_id = @endpointId ORDER BY id DESC LIMIT @keep)
         RETURNING @overhead + length(CAST(coalesce(response, '') AS BLOB)) + length(CAST(coalesce(error, '') AS BLOB)) AS cost`,
      ),
      updateDelivery: db.prepare(
        `UPDATE deliveries SET status = @status, attempts = attempts + @attempted,
           message_failures = message_failures + @messageFailure, next_attempt_at = @nextAttemptAt,
           last_status = coalesce(@lastStatus, last_status), last_error = @lastError, updated_at = @at,
           last_duration_ms = coalesce(@durationMs, last_duration_ms)
         WHERE endpoint_id = @endpointId AND event_seq = @seq AND status = 'pending'
         RETURNING attempts`,
      ),
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
    };
  }

  /** The results waiting for a commit, oldest first. */
  get queued(): readonly AttemptRecord[] {
    return this.queue;
  }

  /** Called after delivery results are committed (for live views and metrics). */
  onResults(listener: (records: readonly AttemptRecord[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Queues the result of an attempt. Results are committed together a moment later (one fsync
   * for many); a crash before then only means the same event is sent again with the same id.
   * Never throws: a failed commit keeps the results queued and tries again.
   */
  record(rec: AttemptRecord): void {
    this.queue.push(rec);
    if (this.queue.length >= RESULTS_PER_COMMIT) this.tryCommit();
    else this.schedule(5);
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tryCommit();
    }, ms);
    this.timer.unref();
  }

  /** commit(), reporting a failure and trying again later instead of throwing. */
  tryCommit(): boolean {
    try {
      this.commit();
      return true;
    } catch (err) {
      // A full disk is announced once by the guard; anything else is worth a line each time.
      const disk = this.deps.disk?.noteWriteError(err) ?? false;
      this.log[disk ? 'debug' : 'warn'](
        { err: (err as Error).message, queued: this.queue.length },
        'could not commit delivery results; keeping them queued, retrying in 1 s',
      );
      this.schedule(RESULTS_RETRY_MS);
      return false;
    }
  }

  /**
   * Commits queued results now. Throws when the commit fails: the results stay queued (they are
   * taken off the queue only once committed).
   */
  commit(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.slice();
    // Delivery results need no sync of their own: lost in a power cut, they only mean the same
    // event is sent again with the same webhook-id, and the next ingest commit, once synced,
    // makes them durable anyway. WAL keeps the database consistent either way.
    this.deps.withoutSync(() =>
      this.ledger.tx(() => {
        for (const rec of batch) this.applyResult(rec);
      }),
    );
    this.committed(batch);
  }

  /** No more timed commits (what is queued stays queued: commit() it). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * After the commit of a transaction that applied `batch` (the queue's first entries): takes
   * them off the queue, then tells listeners.
   */
  committed(batch: readonly AttemptRecord[]): void {
    this.queue.splice(0, batch.length);
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'delivery-result listener failed');
      }
    }
  }

  /** Inside a transaction: writes one result. */
  applyResult(rec: AttemptRecord): void {
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
    // A success at the first attempt is told in full by the deliveries row (see the delivery
    // log's attemptsOf); every other attempt gets its row in the log.
    if (rec.attempted && !(rec.outcome === 'delivered' && updated.attempts === 1))
      this.logAttempt(rec, updated.attempts);
    if (rec.newStatus === 'pending') return;
    const settled = this.stmt.settleEvent.get({ seq: rec.seq, at: rec.at }) as
      | { state: string; remaining: number }
      | undefined;
    if (settled && settled.remaining === 0) {
      if (settled.state === 'delivered') this.ledger.bump('delivered', 1);
      else if (settled.state === 'expired') this.ledger.bump('expired', 1);
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
    // UTF-8 bytes on both sides (trimAttempts gives back what SQLite counts): a JS length
    // counts an emoji twice and SQLite's length() of text once, which would drift.
    const cost =
      ATTEMPT_OVERHEAD +
      (response ? Buffer.byteLength(response) : 0) +
      (rec.error ? Buffer.byteLength(rec.error) : 0);
    const max = this.deps.storage().maxBytes;
    const fits = () => this.ledger.bytes + cost <= max;
    if (attempts > MAX_ATTEMPTS_KEPT) this.trimAttempts(rec, MAX_ATTEMPTS_KEPT - 1);
    if (!fits()) {
      this.deps.room.removeWhile(['delivered', 'expired', 'unrouted'], () => !fits(), 'pruned');
      if (!fits()) this.trimAttempts(rec, 0);
      if (!fits()) return;
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
    this.deps.addEventBytes(cost, rec.seq);
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
    if (n > 0) this.deps.addEventBytes(-n, rec.seq);
  }
}
