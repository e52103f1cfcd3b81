import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskGuard, RESERVE_FILE_NAME } from '../../src/outbox/disk-guard.js';
import { openDb, type Db } from '../../src/outbox/open-db.js';
import { OutboxStore } from '../../src/outbox/outbox-store.js';
import { tempDir } from '../helpers/agent.js';
import { captureLog } from '../helpers/log.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/small-disk.js';
import { clock, dbBytes, expectBalanced, json, settle } from './store-fixture.js';

/**
 * The outbox and its disk guard on a real small disk (a 24 MiB tmpfs): SQLite meets a true
 * SQLITE_FULL when a "log" beside it fills the partition. Needs root (CI runs as root and never
 * skips this).
 */

const MiB = 1024 * 1024;
let disk: SmallDisk | undefined;
let db: Db | undefined;
afterEach(() => {
  db?.close();
  db = undefined;
  disk?.cleanup();
  disk = undefined;
});

/**
 * Mounting the tmpfs needs root: outside CI without it the test is reported as skipped with the
 * reason; under CI=true mountSmallDisk throws instead, so CI never skips it.
 */
function setup(
  skip: (note?: string) => never,
  opts: { minFreeBytes?: number; whenFull?: 'drop-oldest' | 'stop-ingest' } = {},
) {
  const m = mountSmallDisk(tempDir('edgehook-disk-'), 24 * MiB);
  if (!m.disk) return skip(m.skipReason);
  const small = m.disk;
  disk = small;
  const dataDir = small.dir;
  db = openDb(dataDir);
  const log = captureLog('debug');
  let store: OutboxStore | undefined;
  const guard = new DiskGuard({
    dataDir,
    reserveBytes: 2 * MiB,
    minFreeBytes: opts.minFreeBytes ?? 0,
    logger: log.logger,
    clock,
    relieve: () => store?.relieveDiskPressure(),
    roomInside: () => store?.freeBytesInside() ?? 0,
  });
  store = new OutboxStore({
    db,
    logger: log.logger,
    clock,
    agentId: 'gw',
    storage: { maxBytes: 512 * MiB, whenFull: opts.whenFull ?? 'drop-oldest', keepDeliveredHours: 24 },
    endpoints: [{ id: 'cloud', types: ['*'] }],
    disk: guard,
  });
  guard.start();
  return { store, guard, lines: log.lines, dataDir, disk: small, db };
}

const batch = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => json('sensor', { i: from + i, pad: 'p'.repeat(400) }));

/** Appends until the disk refuses; returns how many events were stored. */
function appendUntilFull(store: OutboxStore, from: number): number {
  let stored = 0;
  for (let round = 0; round < 10_000; round++) {
    const r = store.append(batch(from + stored, 50));
    if (r.disk !== undefined) return stored;
    stored += r.stored;
  }
  throw new Error('the disk never filled');
}

describe('DiskGuard with the outbox on a real full disk', () => {
  it('holds on SQLITE_FULL without changing anything in memory, says so once, and resumes by itself', ({
    skip,
  }) => {
    const s = setup(skip);
    const { store, guard, lines, dataDir } = s;
    expect(statSync(join(dataDir, RESERVE_FILE_NAME)).size).toBe(2 * MiB);
    expect(store.append(batch(0, 100)).stored).toBe(100);

    s.disk.fill(0);
    const stored = appendUntilFull(store, 100);
    expect(guard.state).toBe('full');
    // The reserve was given up so that deletes and checkpoints can run.
    expect(existsSync(join(dataDir, RESERVE_FILE_NAME))).toBe(false);
    const counts = store.counts();
    expect(counts.bytes).toBe(dbBytes(s.db));
    expect(counts.received).toBe(100 + stored);
    expect(counts.dropped).toBe(0);

    // Held: every try until the disk has room stores nothing, and changes nothing.
    for (let i = 0; i < 5; i++) {
      clock.t += 1_000;
      expect(store.append(batch(10_000, 10)).disk).toBe('full');
    }
    expect(store.counts().received).toBe(100 + stored);
    expect(lines.filter((l) => l.msg.startsWith('disk full: holding'))).toHaveLength(1);

    s.disk.drain();
    clock.t += 1_000;
    expect(store.append(batch(20_000, 10))).toMatchObject({ stored: 10, full: false });
    expect(guard.state).toBe('ok');
    expect(lines.filter((l) => l.msg.startsWith('disk has room again'))).toHaveLength(1);
    expectBalanced(store.counts());
  });

  it('frees room by pruning delivered events kept for the log (counted), so ingest goes on while the disk stays full', ({
    skip,
  }) => {
    const s = setup(skip);
    const { store, guard } = s;
    s.disk.fill(2 * MiB);
    const stored = appendUntilFull(store, 0);
    expect(stored).toBeGreaterThan(50);
    // Delivery goes on meanwhile: most of the backlog is delivered (kept for the log, 24 h).
    for (let seq = 1; seq <= stored - 10; seq++) settle(store, 'cloud', seq, 'delivered');
    store.commitResults();
    expect(store.counts().delivered).toBe(stored - 10);
    clock.t += 1_000;
    // The next try prunes what the log keeps, and stores in the pages that frees.
    const after = store.append(batch(60_000, 5));
    expect(after.stored).toBe(5);
    expect(guard.state).toBe('ok');
    const c = store.counts();
    expect(c.prunedForDisk).toBeGreaterThan(0);
    expect(c.pending).toBeGreaterThanOrEqual(15);
    expect(c.bytes).toBe(dbBytes(s.db));
    expectBalanced(c);
  });

  it('holds ingest below storage.minFreeBytes, before SQLite meets a full disk', ({ skip }) => {
    const s = setup(skip, { minFreeBytes: 4 * MiB });
    const { store, guard, lines } = s;
    s.disk.fill(3 * MiB);
    clock.t += 1_000;
    expect(store.append(batch(0, 5))).toMatchObject({ stored: 0, disk: 'full' });
    expect(guard.status()).toMatchObject({ state: 'full', reason: 'min-free', reserveBytes: 2 * MiB });
    expect(lines.some((l) => l.msg.startsWith('disk full: holding (less than storage.minFreeBytes'))).toBe(
      true,
    );
    s.disk.drain();
    clock.t += 1_000;
    expect(store.append(batch(0, 5)).stored).toBe(5);
    expect(guard.state).toBe('ok');
  });
});
