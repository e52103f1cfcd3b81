import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Db } from './open-db.js';
import type { DiskGuard } from './disk-guard.js';
import type { Ledger } from './ledger.js';
import type { IngestStage } from './ingest-stage.js';
import type { EventRows } from './event-rows.js';
import type { RoomKeeper } from './room-keeper.js';
import type { ResultRecorder } from './result-recorder.js';
import { RedeliveryGuard } from './redelivery-guard.js';
import { WalSync } from './wal-sync.js';
import type { AppendResult, AttemptRecord, NewEvent } from './outbox-types.js';

/** Thrown inside a message's savepoint when stop-ingest leaves no room: undoes that message. */
class NoRoom extends Error {}

export interface IngestWriterDeps {
  db: Db;
  ledger: Ledger;
  logger: Logger;
  clock: Clock;
  /** Told of every failed write; holds ingest while the disk is full (absent: failures only throw). */
  disk?: DiskGuard | undefined;
  rows: EventRows;
  room: RoomKeeper;
  results: ResultRecorder;
}

/**
 * New events into the outbox (README, "Guarantees"): MQTT messages in group commits, each
 * message through the ingest stage (the edge processing steps) and the redelivery guard, as
 * many as fit; the events a timer emits; and when what was committed is on disk, so that the
 * MQTT acks may go.
 */
export class IngestWriter {
  private readonly deps: IngestWriterDeps;
  private readonly ledger: Ledger;
  private readonly log: Logger;
  private readonly rows: EventRows;
  private readonly room: RoomKeeper;
  private readonly results: ResultRecorder;
  private readonly guard: RedeliveryGuard;
  private stage: IngestStage | undefined;
  /** The seq the next event of the running ingest transaction gets (read once per commit). */
  private seqCursor = 0;
  /** Set when ingest commits are synced off the event loop; otherwise they commit with FULL. */
  private readonly walSync: WalSync | undefined;
  private readonly stmt;

  constructor(deps: IngestWriterDeps) {
    this.deps = deps;
    this.ledger = deps.ledger;
    this.log = deps.logger;
    this.rows = deps.rows;
    this.room = deps.room;
    this.results = deps.results;
    const db = deps.db;
    this.guard = new RedeliveryGuard(db, this.ledger);
    this.stmt = {
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      nextSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).pluck(),
    };
    const wal =
      !db.memory &&
      !db.readonly &&
      String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    if (wal) this.walSync = new WalSync(`${db.name}-wal`, this.log);
  }

  /** Work that joins every ingest commit (see IngestStage); undefined: messages are stored as they come. */
  setStage(stage: IngestStage | undefined): void {
    this.stage = stage;
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
    if (disk && disk.state !== 'ok' && this.results.queued.length > 0 && !this.results.tryCommit())
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
    const now = this.deps.clock.now();
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
    const now = this.deps.clock.now();
    try {
      return this.ledger.tx(() => {
        let n = 0;
        for (const ev of fn(now)) {
          const row = this.rows.buildRow(ev, this.nextSeq());
          if (!this.room.makeRoom(row.bytes)) throw new NoRoom('outbox full (stop-ingest)');
          this.rows.insertRow(row, now);
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
  withoutSync<T>(fn: () => T): T {
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
    const result = this.ledger.tx((): AppendResult => {
      for (const rec of results) this.results.applyResult(rec);
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
        const row = this.rows.buildRow(ev, this.seqCursor);
        if (!this.room.makeRoom(row.bytes)) throw new NoRoom();
        this.rows.insertRow(row, now);
        this.seqCursor++;
        first ||= row.seq;
      }
      this.guard.put(msg, first);
      return events.length;
    };
    // Without a stage a message is one row, and makeRoom() decides before anything is written.
    if (!this.stage) {
      const row = this.rows.buildRow(msg, this.seqCursor);
      if (!this.room.makeRoom(row.bytes)) return undefined;
      this.rows.insertRow(row, now);
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

  /** Stops the WAL sync: callbacks still waiting are dropped (their acks are never sent, which is safe). */
  close(): void {
    this.walSync?.close();
  }
}
