import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WalSync } from '../../src/outbox/wal-sync.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/agent.js';
import { json, open, useStoreFixture } from './store-fixture.js';

/**
 * WalSync: ingest commits write the WAL with synchronous=NORMAL, and MQTT acks wait for our
 * own fdatasync() of that file, run on the thread pool (OutboxStore.afterDurable).
 */

/**
 * Every fdatasync() WalSync starts, counted: the real one runs, so the syncs are real. WalSync
 * imports it from node:fs, hence a module mock rather than a spy on the namespace.
 */
const syncs = vi.hoisted(() => ({ n: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasync = (fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void => {
    syncs.n++;
    fs.fdatasync(fd, callback);
  };
  return { ...fs, default: { ...fs, fdatasync }, fdatasync };
});

useStoreFixture();
beforeEach(() => {
  syncs.n = 0;
});
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** A file in a fresh temp dir standing for a WAL; written unless `exists` is false. */
function scratchWal(name: string, exists = true): string {
  const dir = tempDir('edgehook-walsync-');
  dirs.push(dir);
  const file = join(dir, name);
  if (exists) writeFileSync(file, 'frames');
  return file;
}

describe('WalSync', () => {
  it('calls back after the sync, in order; callbacks given while a sync runs share the next one', async () => {
    const file = scratchWal('x.db-wal');
    const sync = new WalSync(file, captureLog().logger);
    const calls: number[] = [];
    for (let i = 0; i < 5; i++) sync.afterSync(() => calls.push(i));
    // Never before the sync has returned from the thread pool.
    expect(calls).toEqual([]);
    // The first callback started a sync at once; the other four came while it ran.
    expect(syncs.n).toBe(1);
    await sync.idle();
    expect(calls).toEqual([0, 1, 2, 3, 4]);
    // ...and share the next one: two syncs for five callbacks, not five.
    expect(syncs.n).toBe(2);
    // With nothing waiting, no sync runs; one callback later gets exactly one.
    sync.afterSync(() => calls.push(5));
    await sync.idle();
    expect(calls).toEqual([0, 1, 2, 3, 4, 5]);
    expect(syncs.n).toBe(3);
    sync.close();
  });

  it('holds the callbacks while the file cannot be synced, logs why, and releases them once it can', async () => {
    const file = scratchWal('gone.db-wal', false);
    const { logger, lines } = captureLog();
    const sync = new WalSync(file, logger, 50);
    let acked = 0;
    sync.afterSync(() => acked++);
    await new Promise((r) => setTimeout(r, 120));
    expect(acked).toBe(0);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]!.msg).toMatch(/cannot sync the outbox to disk; holding MQTT acks/);
    writeFileSync(file, 'frames');
    await sync.idle();
    expect(acked).toBe(1);
    sync.close();
  });

  it('after close() nothing is called back: acks not sent leave the messages with the broker', async () => {
    const file = scratchWal('x.db-wal');
    const sync = new WalSync(file, captureLog().logger);
    let called = 0;
    sync.afterSync(() => called++);
    sync.close();
    sync.afterSync(() => called++);
    await sync.idle();
    await new Promise((r) => setTimeout(r, 50));
    expect(called).toBe(0);
  });
});

describe('OutboxStore.afterDurable', () => {
  it('on a WAL file: append commits with NORMAL and calls back after the sync; other writes keep FULL', async () => {
    const o = open();
    let durable = false;
    o.store.append([json('a', 1)]);
    o.store.afterDurable(() => (durable = true));
    expect(durable).toBe(false);
    // Writes outside append (operator actions, results) still commit with synchronous=FULL.
    expect(o.db.pragma('synchronous', { simple: true })).toBe(2);
    await o.store.durableIdle();
    expect(durable).toBe(true);
    expect(syncs.n).toBe(1);
    // Commits made while a sync runs share the next one: three ingest commits, two syncs.
    const order: number[] = [];
    for (let i = 0; i < 3; i++) {
      o.store.append([json('b', i)]);
      o.store.afterDurable(() => order.push(i));
    }
    await o.store.durableIdle();
    expect(order).toEqual([0, 1, 2]);
    expect(syncs.n).toBe(3);
    o.store.close();
  });
});
