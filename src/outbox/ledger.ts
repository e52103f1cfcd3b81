import type Database from 'better-sqlite3';
import type { Db } from './open-db.js';

/**
 * The outbox's transactional seam (docs/architecture.md, "The promise"). Everything the outbox
 * keeps in memory beside the database — the byte total, the cumulative counters, and the notices
 * its listeners get — is changed through a ledger entry of the transaction running now, and
 * reaches memory (and the listeners) only once that transaction has committed. A rollback, of the
 * whole transaction or of one savepoint in it, throws its entries away with its rows.
 *
 * Listeners run after the commit and outside it: one that throws is logged by the caller's
 * `onListenerError` and never makes the write run again.
 */

export const COUNTER_NAMES = [
  'received',
  'rejected',
  'dropped',
  'delivered',
  'expired',
  'deleted',
  'unroutedRemoved',
  'prunedForDisk',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

/** What one transaction changed, applied to memory when it commits. */
interface Entry {
  bytes: number;
  counters: Map<CounterName, number>;
  removed: number[];
  appended: boolean;
  /** Callbacks to run once the transaction has committed (in order). */
  after: (() => void)[];
  /** Sums to write just before the commit, by writer and key (see `sum`). */
  sums: Map<SumWriter, Map<string, Record<string, number>>>;
  /** The entry of the transaction (or savepoint) this savepoint runs in. */
  parent: Entry | undefined;
}

function emptyEntry(parent?: Entry): Entry {
  return { bytes: 0, counters: new Map(), removed: [], appended: false, after: [], sums: new Map(), parent };
}

/** Writes one key's sums inside the transaction, just before its COMMIT. */
export type SumWriter = (key: string, sums: Readonly<Record<string, number>>) => void;

function addSums(
  into: Map<SumWriter, Map<string, Record<string, number>>>,
  write: SumWriter,
  key: string,
  delta: Readonly<Record<string, number>>,
): void {
  let byKey = into.get(write);
  if (!byKey) {
    byKey = new Map();
    into.set(write, byKey);
  }
  const sums = byKey.get(key);
  if (!sums) {
    byKey.set(key, { ...delta });
    return;
  }
  for (const name in delta) sums[name] = (sums[name] ?? 0) + delta[name]!;
}

export interface LedgerDeps {
  db: Db;
  /** Called when a listener throws: the commit stands, the error is reported. */
  onListenerError: (err: unknown, what: string) => void;
}

export class Ledger {
  private readonly db: Db;
  private readonly onListenerError: LedgerDeps['onListenerError'];
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly counterAdd: Database.Statement;
  /** Made once: better-sqlite3 runs it as a SAVEPOINT when called inside a transaction. */
  private readonly nested: Database.Transaction<(fn: () => unknown) => unknown>;
  private committedBytes = 0;
  private readonly counters = new Map<CounterName, number>();
  private entry: Entry | undefined;
  private readonly appendListeners = new Set<() => void>();
  private readonly removedListeners = new Set<(seqs: readonly number[]) => void>();

  constructor(deps: LedgerDeps) {
    this.db = deps.db;
    this.onListenerError = deps.onListenerError;
    this.counterAdd = this.db.prepare(
      `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value`,
    );
    // The counters are summed over the transaction and written once at its end (one UPSERT per
    // counter, not one per event), inside it.
    this.txn = this.db.transaction((fn: () => unknown) => {
      const result = fn();
      const entry = this.entry!;
      for (const [name, by] of entry.counters) if (by !== 0) this.counterAdd.run(name, by);
      for (const [write, byKey] of entry.sums) for (const [key, sums] of byKey) write(key, sums);
      return result;
    });
    this.nested = this.db.transaction((fn: () => unknown) => fn());
    for (const name of COUNTER_NAMES) this.counters.set(name, 0);
    const rows = this.db.prepare(`SELECT name, value FROM counters`).all() as {
      name: CounterName;
      value: number;
    }[];
    for (const row of rows) this.counters.set(row.name, row.value);
    this.committedBytes = this.db.prepare(`SELECT total(bytes) FROM events`).pluck().get() as number;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction (or inside the one running now). Its entries reach
   * memory, then the listeners, only after the commit; on any error nothing does, and the error
   * goes to the caller.
   */
  tx<T>(fn: () => T): T {
    if (this.entry) return fn();
    const entry = emptyEntry();
    this.entry = entry;
    let result: T;
    try {
      result = this.txn.immediate(fn) as T;
    } finally {
      this.entry = undefined;
    }
    this.apply(entry);
    return result;
  }

  /**
   * Runs `fn` in a savepoint of the transaction running now: when it throws, its rows and its
   * ledger entries are undone and the error goes on; the rest of the transaction stands.
   */
  savepoint<T>(fn: () => T): T {
    const outer = this.entry;
    if (!outer) throw new Error('savepoint() outside a transaction');
    const inner = emptyEntry(outer);
    this.entry = inner;
    let result: T;
    try {
      // better-sqlite3 runs a transaction function called inside a transaction as a SAVEPOINT.
      result = this.nested(fn) as T;
    } finally {
      this.entry = outer;
    }
    outer.bytes += inner.bytes;
    for (const [name, by] of inner.counters) outer.counters.set(name, (outer.counters.get(name) ?? 0) + by);
    outer.removed.push(...inner.removed);
    outer.appended ||= inner.appended;
    outer.after.push(...inner.after);
    for (const [write, byKey] of inner.sums)
      for (const [key, sums] of byKey) addSums(outer.sums, write, key, sums);
    return result;
  }

  get inTransaction(): boolean {
    return this.entry !== undefined;
  }

  /** The byte total as the transaction running now sees it (committed, outside one). */
  get bytes(): number {
    let bytes = this.committedBytes;
    for (let e = this.entry; e; e = e.parent) bytes += e.bytes;
    return bytes;
  }

  /** A cumulative counter as committed. */
  counter(name: CounterName): number {
    return this.counters.get(name) ?? 0;
  }

  addBytes(n: number): void {
    this.current().bytes += n;
  }

  bump(name: CounterName, by: number): void {
    const c = this.current().counters;
    c.set(name, (c.get(name) ?? 0) + by);
  }

  /**
   * Adds `delta` to sums kept for the transaction running now; `write` stores them once per key,
   * inside the transaction, just before its COMMIT (one UPSERT per key a commit, not one per
   * message). A rollback, of the transaction or of the savepoint the sum was added in, throws
   * it away with the rows. `write` must be the same function for the same table.
   */
  sum(write: SumWriter, key: string, delta: Readonly<Record<string, number>>): void {
    addSums(this.current().sums, write, key, delta);
  }

  /** Events removed by this transaction (dropped or deleted): told to listeners after commit. */
  noteRemoved(seqs: readonly number[]): void {
    this.current().removed.push(...seqs);
  }

  /** New deliveries became pending in this transaction: listeners hear once it committed. */
  noteAppended(): void {
    this.current().appended = true;
  }

  /** Runs `fn` after the transaction running now commits; never if it rolls back. */
  afterCommit(fn: () => void): void {
    this.current().after.push(fn);
  }

  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  onRemoved(listener: (seqs: readonly number[]) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  private current(): Entry {
    if (!this.entry) throw new Error('ledger entry outside a transaction');
    return this.entry;
  }

  private apply(entry: Entry): void {
    this.committedBytes += entry.bytes;
    for (const [name, by] of entry.counters) this.counters.set(name, (this.counters.get(name) ?? 0) + by);
    for (const fn of entry.after) this.safely(fn, 'after-commit step');
    if (entry.removed.length > 0)
      for (const l of this.removedListeners) this.safely(() => l(entry.removed), 'removed listener');
    if (entry.appended) for (const l of this.appendListeners) this.safely(l, 'append listener');
  }

  private safely(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.onListenerError(err, what);
    }
  }
}
