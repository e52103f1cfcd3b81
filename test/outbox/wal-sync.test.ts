import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WalSync } from '../../src/outbox/wal-sync.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/agent.js';
import { json, open, useStoreFixture } from './store-fixture.js';

/**
 * WalSync: ingest commits write the WAL with synchronous=NORMAL, and MQTT acks wait for our
 * own fdatasync() of that file, run on the thread pool (OutboxStore.afterDurable).
 */

useStoreFixture();
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
    await sync.idle();
    expect(calls).toEqual([0, 1, 2, 3, 4]);
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
    o.store.close();
  });
});
