import type { NewEvent } from './outbox-store.js';

/**
 * Work that joins the ingest commit (docs/architecture.md, "The promise"): Sparkplug B alias
 * learning, edge-processing steps. The outbox calls `process` inside the transaction that
 * stores the message's events, once per message that is not a recognised redelivery, in
 * arrival order (in a savepoint of its own only when the group is stored again because a
 * message did not fit: then a message that does not fit is undone alone).
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

/**
 * Stages one after another: each event one stage returns goes through the next, in order
 * (Sparkplug decoding, then the subscription's steps). Undefined entries are left out.
 */
export function chainStages(stages: readonly (IngestStage | undefined)[]): IngestStage | undefined {
  const list = stages.filter((s): s is IngestStage => s !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return {
    process(message, ctx) {
      let events: readonly NewEvent[] = [message];
      for (const stage of list) events = events.flatMap((ev) => stage.process(ev, ctx));
      return events;
    },
  };
}
