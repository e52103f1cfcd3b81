import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Db } from './open-db.js';
import type { Ledger } from './ledger.js';
import type { OutboxStoreDeps } from './outbox-types.js';

/** Events per pruning transaction while the disk is full (each needs WAL room of its own). */
const PRUNE_UNDER_PRESSURE = 50;

/** Why an event leaves the outbox: pruned (kept only for the log), dropped (drop-oldest), deleted (operator). */
export type RemoveReason = 'pruned' | 'dropped' | 'deleted';

/** What removing an event needs to know of it. */
export interface RemovableEvent {
  seq: number;
  state: string;
  bytes: number;
}

export interface RoomKeeperDeps {
  db: Db;
  ledger: Ledger;
  logger: Logger;
  clock: Clock;
  /** The storage settings as they are now (a reloaded config changes them). */
  storage: () => OutboxStoreDeps['storage'];
}

/**
 * The outbox's room (README, "Storage"): what goes when a new event needs room under
 * storage.maxBytes, the pruning of events kept only for the log, and the room a full disk needs.
 * Every removal keeps the counters' invariant (see OutboxStore) and `bytes` the sum of the
 * events' `bytes` column.
 */
export class RoomKeeper {
  private readonly deps: RoomKeeperDeps;
  private readonly ledger: Ledger;
  private readonly stmt;

  constructor(deps: RoomKeeperDeps) {
    this.deps = deps;
    this.ledger = deps.ledger;
    const db = deps.db;
    this.stmt = {
      oldestOfStates: db.prepare(
        `SELECT seq, state, bytes FROM events WHERE state IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
      ),
      prunable: db.prepare(
        `SELECT seq, state, bytes FROM events
         WHERE (state IN ('delivered', 'expired', 'unrouted', 'deleted') AND settled_at < @settledBefore)
            OR (state = 'rejected' AND received_at < @settledBefore)
         ORDER BY seq LIMIT @limit`,
      ),
      // Under disk pressure: every settled event kept only for the log, whatever its age.
      // Rejected events stay: they are kept to be looked at and redelivered.
      prunableNow: db.prepare(
        `SELECT seq, state, bytes FROM events
         WHERE state IN ('delivered', 'expired', 'unrouted', 'deleted') ORDER BY seq LIMIT @limit`,
      ),
      freelist: db.prepare('PRAGMA freelist_count').pluck(),
      pageSize: db.prepare('PRAGMA page_size').pluck(),
      deleteEvent: db.prepare(`DELETE FROM events WHERE seq = ?`),
      deleteDeliveries: db.prepare(`DELETE FROM deliveries WHERE event_seq = ?`),
      deleteAttempts: db.prepare(`DELETE FROM attempts WHERE event_seq = ?`),
    };
  }

  /**
   * Frees `need` bytes under storage.maxBytes (README, "Storage"): first delivered events kept
   * only for the log, then — with drop-oldest — the oldest undelivered ones, each counted and
   * logged. Runs inside a transaction: what it removes comes back if that rolls back. Returns
   * false when stop-ingest leaves no room.
   */
  makeRoom(need: number): boolean {
    const storage = this.deps.storage();
    const max = storage.maxBytes;
    const fits = () => this.ledger.bytes + need <= max;
    if (fits()) return true;
    this.removeWhile(['delivered', 'expired', 'unrouted', 'deleted'], () => !fits(), 'pruned');
    if (fits()) return true;
    if (storage.whenFull === 'stop-ingest') return false;
    const dropped = this.removeWhile(['pending', 'failed', 'rejected'], () => !fits(), 'dropped');
    if (dropped.length > 0) {
      const info = { dropped: dropped.length, maxBytes: max, firstSeq: dropped[0], lastSeq: dropped.at(-1) };
      this.ledger.afterCommit(() =>
        this.deps.logger.warn(
          info,
          'outbox full: dropped the oldest undelivered events (storage.whenFull = drop-oldest)',
        ),
      );
    }
    return true;
  }

  /**
   * Inside a transaction: removes the oldest events in `states` while `more()` says so. Returns
   * the seqs removed.
   */
  removeWhile(states: string[], more: () => boolean, reason: RemoveReason): number[] {
    const removed: number[] = [];
    const statesJson = JSON.stringify(states);
    while (more()) {
      const rows = this.stmt.oldestOfStates.all(statesJson, 256) as RemovableEvent[];
      if (rows.length === 0) break;
      for (const r of rows) {
        if (!more()) break;
        this.removeEvent(r, reason);
        removed.push(r.seq);
      }
    }
    return removed;
  }

  /** Inside a transaction: an event and everything of it goes. */
  removeEvent(r: RemovableEvent, reason: RemoveReason): void {
    this.stmt.deleteAttempts.run(r.seq);
    this.stmt.deleteDeliveries.run(r.seq);
    this.stmt.deleteEvent.run(r.seq);
    this.ledger.addBytes(-r.bytes);
    // Events already accounted for (delivered, expired, rejected…) are not counted again.
    if (reason !== 'pruned' && (r.state === 'pending' || r.state === 'failed')) this.ledger.bump(reason, 1);
    // "unrouted" is a state while the event is here; once it leaves, a counter keeps it.
    if (r.state === 'unrouted') this.ledger.bump('unroutedRemoved', 1);
    if (reason !== 'pruned') this.ledger.noteRemoved([r.seq]);
  }

  /**
   * Removes events delivered (and rejected events received) longer ago than keepDeliveredHours;
   * `underPressure` (the disk is full): every settled event kept only for the log, counted in
   * prunedForDisk. Returns how many; throws when a write fails (what was committed before stays).
   */
  prune(underPressure = false): number {
    let total = 0;
    for (;;) {
      const n = this.pruneBatch(underPressure, 500);
      total += n;
      if (n < 500) return total;
    }
  }

  /** One transaction of prune(): at most `limit` events. */
  private pruneBatch(underPressure: boolean, limit: number): number {
    const settledBefore = this.deps.clock.now() - this.deps.storage().keepDeliveredHours * 3_600_000;
    return this.ledger.tx(() => {
      const rows = (
        underPressure
          ? this.stmt.prunableNow.all({ limit })
          : this.stmt.prunable.all({ settledBefore, limit })
      ) as RemovableEvent[];
      for (const r of rows) this.removeEvent(r, 'pruned');
      if (underPressure && rows.length > 0) this.ledger.bump('prunedForDisk', rows.length);
      return rows.length;
    });
  }

  /**
   * Frees room while the disk is full: the WAL's space goes back to the file system, and settled
   * events kept only for the log go (counted). Throws when a write fails.
   */
  relieveDiskPressure(): void {
    // The WAL keeps the size of its busiest moment (megabytes, up to the auto-checkpoint) and
    // is reused, never shrunk: on a full disk that is the room every commit, deletes included,
    // needs. A TRUNCATE checkpoint writes it back and gives its space to the file system.
    // Small transactions, each followed by a checkpoint: a delete needs WAL room too, and a big
    // one would need more than a full disk has.
    let pruned = 0;
    let failure: unknown;
    const checkpoint = () => {
      try {
        this.deps.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (err) {
        failure = err;
      }
    };
    for (let batch = 0; batch < 1000; batch++) {
      let n: number;
      try {
        n = this.pruneBatch(true, PRUNE_UNDER_PRESSURE);
      } catch (err) {
        failure = err;
        break;
      }
      pruned += n;
      checkpoint();
      if (n < PRUNE_UNDER_PRESSURE) break;
    }
    if (pruned > 0) this.deps.logger.warn({ pruned }, 'disk full: removed delivered events kept for the log');
    else if (failure !== undefined) throw failure;
  }

  /** Bytes of the database's free pages: room new rows take without growing the file. */
  freeBytesInside(): number {
    return (this.stmt.freelist.get() as number) * (this.stmt.pageSize.get() as number);
  }
}
