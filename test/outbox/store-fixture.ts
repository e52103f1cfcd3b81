import { copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { DB_FILE_NAME, openDb, type Db } from '../../src/outbox/open-db.js';
import {
  OutboxStore,
  type NewEvent,
  type OutboxCounts,
  type RouteTarget,
} from '../../src/outbox/outbox-store.js';
import { ATTEMPT_OVERHEAD, DELIVERY_OVERHEAD, EVENT_OVERHEAD } from '../../src/outbox/row-costs.js';
import { silentLogger } from '../../src/log.js';
import { tempDir } from '../helpers/agent.js';

/** A real OutboxStore on a real SQLite file in a temp dir, with a clock the test moves. */

export const HOUR = 3_600_000;
export const clock = {
  t: 0,
  now() {
    return this.t;
  },
};

export interface Opened {
  db: Db;
  store: OutboxStore;
  dataDir: string;
}
export interface OpenOptions {
  maxBytes?: number;
  whenFull?: 'drop-oldest' | 'stop-ingest';
  keepDeliveredHours?: number;
  endpoints?: RouteTarget[];
  dataDir?: string;
}

let opened: Opened[] = [];
let dirs: string[] = [];

/** Registers the hooks: a fresh clock before each test; after it, integrity_check and cleanup. */
export function useStoreFixture(): void {
  beforeEach(() => {
    clock.t = Date.UTC(2026, 10, 24, 8, 0, 0, 123);
  });
  afterEach(() => {
    for (const o of opened) {
      if (!o.db.open) continue;
      // Whatever a test did, the file must still be a sound database.
      expect(o.db.pragma('integrity_check', { simple: true })).toBe('ok');
      o.db.close();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    opened = [];
    dirs = [];
  });
}

export function open(opts: OpenOptions = {}): Opened {
  const dataDir = opts.dataDir ?? tempDir('edgehook-outbox-');
  if (!opts.dataDir) dirs.push(dataDir);
  const db = openDb(dataDir);
  const store = new OutboxStore({
    db,
    logger: silentLogger(),
    clock,
    agentId: 'gw-1',
    storage: {
      maxBytes: opts.maxBytes ?? 64 * 1024 * 1024,
      whenFull: opts.whenFull ?? 'drop-oldest',
      keepDeliveredHours: opts.keepDeliveredHours ?? 24,
    },
    endpoints: opts.endpoints ?? [{ id: 'cloud', types: ['*'] }],
  });
  const o = { db, store, dataDir };
  opened.push(o);
  return o;
}

/**
 * A crash (kill -9) and a restart. The database and its WAL are copied as they are on disk
 * while the old connection is still open, as a killed process leaves them: no checkpoint, and
 * nothing the store still held in memory (queued results, timers) written. The new store opens
 * the copy, so SQLite recovers from the WAL as after a real crash (the -shm is left behind and
 * rebuilt). The old store is then stopped without committing (its connection is closed first,
 * so its close() cannot write), and its timers and WAL sync are gone. Use `wal` to check that
 * the crash image held committed frames that were not yet checkpointed.
 */
export function crashAndReopen(o: Opened, opts: OpenOptions = {}): Opened & { wal: number } {
  const dataDir = tempDir('edgehook-outbox-crashed-');
  dirs.push(dataDir);
  const from = join(o.dataDir, DB_FILE_NAME);
  const to = join(dataDir, DB_FILE_NAME);
  copyFileSync(from, to);
  let wal = 0;
  if (existsSync(`${from}-wal`)) {
    copyFileSync(`${from}-wal`, `${to}-wal`);
    wal = statSync(`${to}-wal`).size;
  }
  // The process is gone: nothing it held in memory may reach any file from here on.
  o.db.close();
  o.store.close();
  return { ...open({ ...opts, dataDir }), wal };
}

export function json(type: string, value: unknown, extra: Partial<NewEvent> = {}): NewEvent {
  const text = JSON.stringify(value);
  return {
    topic: `t/${type}`,
    type,
    receivedAt: clock.now(),
    payload: Buffer.from(text),
    data: { kind: 'json', json: text },
    ...extra,
  };
}

export function rows(db: Db): { seq: number; state: string; body: string }[] {
  return db.prepare(`SELECT seq, state, body FROM events ORDER BY seq`).all() as {
    seq: number;
    state: string;
    body: string;
  }[];
}

export function settle(
  store: OutboxStore,
  endpointId: string,
  seq: number,
  newStatus: 'delivered' | 'failed',
): void {
  const outcome = newStatus === 'delivered' ? 'delivered' : 'failed';
  store.record({
    endpointId,
    seq,
    at: clock.now(),
    outcome,
    newStatus,
    attempted: true,
    status: newStatus === 'delivered' ? 200 : 400,
    durationMs: 2,
  });
}

/** README "Guarantees" 4: every received event is accounted for, exactly once. */
export function expectBalanced(c: OutboxCounts): void {
  expect(c.received).toBe(
    c.delivered + c.pending + c.failed + c.dropped + c.rejected + c.expired + c.deleted + c.unrouted,
  );
}

export function dbBytes(db: Db): number {
  return db.prepare(`SELECT total(bytes) FROM events`).pluck().get() as number;
}

/**
 * What the rows really cost against storage.maxBytes (README, "Storage"), recomputed from the
 * rows themselves and not from the `bytes` column: each event's body and kept payload plus its
 * overhead, each delivery row, and each logged attempt with its response and error text.
 */
export function rowCosts(db: Db): number {
  return db
    .prepare(
      `SELECT total(
         ${EVENT_OVERHEAD} + length(CAST(e.body AS BLOB)) + coalesce(length(e.payload), 0)
         + ${DELIVERY_OVERHEAD} * (SELECT count(*) FROM deliveries d WHERE d.event_seq = e.seq)
         + (SELECT total(${ATTEMPT_OVERHEAD} + coalesce(length(CAST(a.response AS BLOB)), 0)
              + coalesce(length(CAST(a.error AS BLOB)), 0))
            FROM attempts a WHERE a.event_seq = e.seq)
       ) FROM events e`,
    )
    .pluck()
    .get() as number;
}

/**
 * The byte total the store keeps in memory (the one that decides what is dropped) is the one in
 * the database, and that is what the rows cost.
 */
export function expectBytesTrue(o: Opened): void {
  const inMemory = o.store.counts().bytes;
  expect(dbBytes(o.db), 'SELECT total(bytes) FROM events').toBe(inMemory);
  expect(rowCosts(o.db), 'what the rows cost').toBe(inMemory);
}
