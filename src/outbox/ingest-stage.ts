import type { NewEvent } from './outbox-store.js';

/**
 * Work that joins the ingest commit (docs/architecture.md, "The promise"): Sparkplug B alias
 * learning, edge-processing steps. The outbox calls `process` inside the transaction that
 * stores the message's events, once per message that is not a recognised redelivery, in
 * arrival order, within a savepoint of its own.
 *
 * - It returns the events to store for that message: none (filtered out, held in state), the
 *   message itself, or several (split). An event with `rejected` set is kept as rejected.
 * - It may read and write its own tables on the outbox's connection: those writes commit or
 *   roll back together with the events (a rolled-back message leaves no trace in them).
 * - It keeps no in-memory state that a rollback would leave wrong: it reads state back from
 *   SQLite, or registers an after-commit step (`afterCommit`) to update a cache.
 * - It must not throw for a bad message (return a rejected event instead); a throw rolls back
 *   the whole group commit, and ingest retries it.
 */
export interface IngestStage {
  process(message: NewEvent, ctx: StageContext): readonly NewEvent[];
}

export interface StageContext {
  /** The commit's time (epoch ms). */
  now: number;
  /** Runs `fn` once the transaction has committed; never when it rolls back. */
  afterCommit(fn: () => void): void;
}
