import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger, type SumWriter } from '../../src/outbox/ledger.js';
import { openDb, type Db } from '../../src/outbox/open-db.js';
import { tempDir } from '../helpers/agent.js';

// Sums kept for a transaction (the steps' per-subscription counts): written once per key, inside
// the transaction just before its COMMIT, on a real SQLite file; a rollback throws them away.

let db: Db | undefined;
let dir: string | undefined;
afterEach(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  db = undefined;
  dir = undefined;
});

function setup() {
  dir = tempDir();
  db = openDb(dir);
  db.exec('CREATE TABLE sums (key TEXT PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL)');
  const upsert = db.prepare(
    `INSERT INTO sums (key, a, b) VALUES (@key, @a, @b)
     ON CONFLICT (key) DO UPDATE SET a = a + excluded.a, b = b + excluded.b`,
  );
  const writes: { key: string; sums: Record<string, number> }[] = [];
  const write: SumWriter = (key, sums) => {
    writes.push({ key, sums: { ...sums } });
    upsert.run({ key, a: sums.a ?? 0, b: sums.b ?? 0 });
  };
  const ledger = new Ledger({ db, onListenerError: () => undefined });
  const rows = () => db!.prepare('SELECT key, a, b FROM sums ORDER BY key').all();
  return { ledger, write, writes, rows };
}

describe('Ledger.sum', () => {
  it('sums over a transaction are written once per key, inside it', () => {
    const { ledger, write, writes, rows } = setup();
    ledger.tx(() => {
      for (let i = 0; i < 100; i++) ledger.sum(write, i % 2 ? 'odd' : 'even', { a: 1, b: i });
      // Not written yet: the rows appear at the end of the transaction.
      expect(rows()).toEqual([]);
    });
    expect(writes.map((w) => w.key)).toEqual(['even', 'odd']);
    expect(rows()).toEqual([
      { key: 'even', a: 50, b: 2450 },
      { key: 'odd', a: 50, b: 2500 },
    ]);
  });

  it('a savepoint that fails takes its sums with it; the rest of the transaction stands', () => {
    const { ledger, write, rows } = setup();
    ledger.tx(() => {
      ledger.sum(write, 'k', { a: 1 });
      expect(() =>
        ledger.savepoint(() => {
          ledger.sum(write, 'k', { a: 10, b: 10 });
          throw new Error('does not fit');
        }),
      ).toThrow('does not fit');
      ledger.savepoint(() => ledger.sum(write, 'k', { b: 2 }));
    });
    expect(rows()).toEqual([{ key: 'k', a: 1, b: 2 }]);
  });

  it('a transaction that fails writes nothing, and a failing write rolls the transaction back', () => {
    const { ledger, write, writes, rows } = setup();
    expect(() =>
      ledger.tx(() => {
        ledger.sum(write, 'k', { a: 1 });
        throw new Error('disk I/O error');
      }),
    ).toThrow('disk I/O error');
    expect(writes).toEqual([]);
    const failing: SumWriter = () => {
      throw new Error('SQLITE_FULL');
    };
    expect(() =>
      ledger.tx(() => {
        db!.prepare(`INSERT INTO sums (key, a, b) VALUES ('other', 1, 1)`).run();
        ledger.sum(failing, 'k', { a: 1 });
      }),
    ).toThrow('SQLITE_FULL');
    expect(rows()).toEqual([]);
    // The next transaction starts clean.
    ledger.tx(() => ledger.sum(write, 'k', { a: 3 }));
    expect(rows()).toEqual([{ key: 'k', a: 3, b: 0 }]);
  });
});
