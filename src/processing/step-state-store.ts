import type { Ledger, SumWriter } from '../outbox/ledger.js';
import type { Db } from '../outbox/open-db.js';

/**
 * Step state and per-subscription counts in SQLite, on the outbox's connection (README, "Edge
 * processing"): every write here joins the transaction that stores the events it goes with.
 * Statements are prepared once; rows are parsed on the way out. Nothing is cached in memory.
 * Counts made inside an outbox transaction are summed by its ledger and written once per
 * subscription, just before the commit (an UPSERT per message cost 3–4 µs, BENCHMARKS.md).
 */

export const COUNT_NAMES = [
  'messages',
  'reported',
  'filtered',
  'held',
  'rejected',
  'events',
  'emitted',
  'evicted',
] as const;
export type CountName = (typeof COUNT_NAMES)[number];
export type Counts = Record<CountName, number>;

export interface StateRow {
  scope: string;
  key: string;
  state: unknown;
  dueAt: number | null;
}

export function zeroCounts(): Counts {
  return { messages: 0, reported: 0, filtered: 0, held: 0, rejected: 0, events: 0, emitted: 0, evicted: 0 };
}

export class StepStateStore {
  private readonly stmt;

  private readonly writeCounts: SumWriter;

  constructor(
    readonly db: Db,
    /** The outbox's ledger (same connection); without it every count is written at once. */
    private readonly ledger?: Pick<Ledger, 'inTransaction' | 'sum'>,
  ) {
    this.stmt = {
      get: db.prepare('SELECT state FROM step_state WHERE scope = ? AND key = ?').pluck(),
      upsert: db.prepare(
        `INSERT INTO step_state (scope, key, state, due_at, used_at) VALUES (@scope, @key, @state, @dueAt, @usedAt)
         ON CONFLICT (scope, key) DO UPDATE SET state = excluded.state, due_at = excluded.due_at, used_at = excluded.used_at`,
      ),
      delete: db.prepare('DELETE FROM step_state WHERE scope = ? AND key = ?'),
      due: db.prepare(
        `SELECT scope, key, state, due_at AS dueAt FROM step_state
         WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, scope, key LIMIT ?`,
      ),
      nextDue: db.prepare('SELECT min(due_at) FROM step_state WHERE due_at IS NOT NULL').pluck(),
      oldest: db.prepare(
        'SELECT scope, key, state, due_at AS dueAt FROM step_state ORDER BY used_at, scope, key LIMIT 1',
      ),
      keys: db.prepare(`SELECT value FROM step_meta WHERE name = 'keys'`).pluck(),
      addKeys: db.prepare(
        `INSERT INTO step_meta (name, value) VALUES ('keys', @n) ON CONFLICT (name) DO UPDATE SET value = value + @n`,
      ),
      count: db.prepare(
        `INSERT INTO step_counts (subscription, messages, reported, filtered, held, rejected, events, emitted, evicted)
         VALUES (@subscription, @messages, @reported, @filtered, @held, @rejected, @events, @emitted, @evicted)
         ON CONFLICT (subscription) DO UPDATE SET messages = messages + excluded.messages,
           reported = reported + excluded.reported, filtered = filtered + excluded.filtered,
           held = held + excluded.held, rejected = rejected + excluded.rejected,
           events = events + excluded.events, emitted = emitted + excluded.emitted,
           evicted = evicted + excluded.evicted`,
      ),
      counts: db.prepare(
        `SELECT subscription, messages, reported, filtered, held, rejected, events, emitted, evicted FROM step_counts`,
      ),
    };
    this.writeCounts = (subscription, sums) =>
      this.stmt.count.run({ subscription, ...zeroCounts(), ...sums });
  }

  get<T>(scope: string, key: string): T | undefined {
    const text = this.stmt.get.get(scope, key) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  /** Writes a key's state; `isNew` (the caller read none) adds it to the key count. */
  put(
    scope: string,
    key: string,
    state: unknown,
    dueAt: number | null,
    usedAt: number,
    isNew: boolean,
  ): void {
    this.stmt.upsert.run({ scope, key, state: JSON.stringify(state), dueAt, usedAt });
    if (isNew) this.stmt.addKeys.run({ n: 1 });
  }

  delete(scope: string, key: string): void {
    if (this.stmt.delete.run(scope, key).changes > 0) this.stmt.addKeys.run({ n: -1 });
  }

  due(now: number, limit: number): StateRow[] {
    return (
      this.stmt.due.all(now, limit) as { scope: string; key: string; state: string; dueAt: number }[]
    ).map(parseRow);
  }

  nextDue(): number | undefined {
    return (this.stmt.nextDue.get() as number | null) ?? undefined;
  }

  /** The least recently used key. */
  oldest(): StateRow | undefined {
    const row = this.stmt.oldest.get() as { scope: string; key: string; state: string; dueAt: number | null };
    return row && parseRow(row);
  }

  keys(): number {
    return (this.stmt.keys.get() as number | undefined) ?? 0;
  }

  count(subscription: string, delta: Partial<Counts>): void {
    if (this.ledger?.inTransaction) this.ledger.sum(this.writeCounts, subscription, delta);
    else this.writeCounts(subscription, delta);
  }

  counts(): Map<string, Counts> {
    const rows = this.stmt.counts.all() as (Counts & { subscription: string })[];
    return new Map(rows.map(({ subscription, ...c }) => [subscription, c]));
  }
}

function parseRow(r: { scope: string; key: string; state: string; dueAt: number | null }): StateRow {
  return { scope: r.scope, key: r.key, state: JSON.parse(r.state), dueAt: r.dueAt };
}
