import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openDb } from '../../src/outbox/open-db.js';
import { cli, Cleanup, STACK_FRAME, tempDirIn } from './support/rig.js';

/**
 * README "Guarantees" 5 and docs/architecture.md "The data path" (outbox), at `edgehook run` as a
 * user runs it: a database file that is damaged or from a newer Edgehook, and a data directory that
 * cannot be written, each stop the agent at start with one clear line and a non-zero exit — never a
 * stack trace, never a crash loop, and the user's file is never replaced or changed.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const CONFIG = 'mqtt: { url: embedded, embedded: { port: 0 } }\nadmin: { port: 0 }\n';

/** A directory with a config; the data directory is `<dir>/data`. */
function setup(): { dir: string; dataDir: string; dbFile: string } {
  const dir = tempDirIn(cleanup, 'edgehook-dur-dbfile-');
  writeFileSync(join(dir, 'edgehook.yaml'), CONFIG);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  return { dir, dataDir, dbFile: join(dataDir, 'edgehook.db') };
}

const run = (dir: string, dataDir: string) =>
  cli(['run', '--config', join(dir, 'edgehook.yaml'), '--data-dir', dataDir], dir, 60_000);

/** Exited on its own, non-zero, with one line on stderr naming `what`, and no stack trace. */
function expectOneClearLine(r: Awaited<ReturnType<typeof run>>, ...mentions: (string | RegExp)[]): void {
  expect(r.signal, 'it must exit by itself, not run on or hang').toBeNull();
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  for (const m of mentions)
    expect(lines[0]).toMatch(m instanceof RegExp ? m : new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  expect(r.stderr + r.stdout).not.toMatch(STACK_FRAME);
}

/** A real outbox database with 2,000 events, made by this Edgehook's own openDb. */
function realDatabase(dataDir: string): void {
  const db = openDb(dataDir);
  const insert = db.prepare(
    `INSERT INTO events (seq, id, type, topic, received_at, state, remaining, settled_at, body, payload, reject_reason, bytes)
     VALUES (?, ?, 'sensor.t', 'sensors/t', ?, 'pending', 0, NULL, ?, NULL, NULL, 500)`,
  );
  db.transaction(() => {
    for (let i = 1; i <= 2000; i++)
      insert.run(i, `evt_${i}`, Date.now(), JSON.stringify({ i, pad: 'p'.repeat(300) }));
  })();
  db.close();
}

describe('database files at `edgehook run`', () => {
  it('a file of garbage named edgehook.db: one clear line, non-zero exit, the file byte for byte as it was', async () => {
    const { dir, dataDir, dbFile } = setup();
    const garbage = Buffer.alloc(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(dbFile, garbage);
    for (let attempt = 0; attempt < 2; attempt++) {
      // Asked twice: the first start must not have "repaired" or replaced anything.
      expectOneClearLine(await run(dir, dataDir), dbFile, /damaged|not a database|corrupt/i);
      expect(readFileSync(dbFile).equals(garbage)).toBe(true);
      expect(readdirSync(dataDir)).toEqual(['edgehook.db']);
    }
  });

  it('a real database with damaged pages in the middle: one clear line, non-zero exit, the file untouched', async () => {
    const { dir, dataDir, dbFile } = setup();
    realDatabase(dataDir);
    // Bit rot on an SD card: the header is fine, some b-tree pages are not.
    const bytes = readFileSync(dbFile);
    expect(bytes.length).toBeGreaterThan(40 * 4096);
    for (let i = 20 * 4096; i < 40 * 4096; i++) bytes[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(dbFile, bytes);
    expectOneClearLine(await run(dir, dataDir), dbFile, /damaged|not a database|corrupt|malformed/i);
    expect(readFileSync(dbFile).equals(bytes)).toBe(true);
  });

  it('a database from a newer Edgehook (user_version 999): one clear line, non-zero exit, the file byte for byte as it was', async () => {
    const { dir, dataDir, dbFile } = setup();
    const db = new Database(dbFile);
    db.exec('CREATE TABLE from_the_future (x INTEGER); INSERT INTO from_the_future VALUES (1);');
    db.pragma('user_version = 999');
    db.close();
    const before = readFileSync(dbFile);
    for (let attempt = 0; attempt < 2; attempt++) {
      expectOneClearLine(await run(dir, dataDir), dbFile, /999/, /newer/i);
      expect(readFileSync(dbFile).equals(before)).toBe(true);
      expect(readdirSync(dataDir)).toEqual(['edgehook.db']);
    }
  });
});

/**
 * A read-only filesystem (a tmpfs mounted read-only), which stops root too; chmod does not
 * (CI runs as root). Where mounting is not allowed, the test says so and checks the path that
 * needs no privilege: a data directory under a regular file.
 */
function readOnlyMount(dir: string): boolean {
  const ok = (args: string[]) => spawnSync('mount', args, { stdio: 'ignore' }).status === 0;
  if (!ok(['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', dir])) return false;
  cleanup.add(() => spawnSync('umount', ['-l', dir], { stdio: 'ignore' }));
  return true;
}

describe('a data directory that cannot be written, at `edgehook run`', () => {
  it('on a read-only filesystem, empty or holding a database: one clear line, non-zero exit, no crash loop', async () => {
    const { dir } = setup();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!readOnlyMount(mnt)) {
      console.warn(
        '[read-only data dir] mounting a tmpfs is not permitted here; checking a data directory under a regular file instead',
      );
      writeFileSync(join(dir, 'afile'), 'not a directory');
      const dataDir = join(dir, 'afile', 'data');
      expectOneClearLine(await run(dir, dataDir), dataDir, /data directory/);
      return;
    }
    const empty = join(mnt, 'empty');
    const withDb = join(mnt, 'with-db');
    mkdirSync(empty);
    realDatabase(withDb);
    expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0);
    const dbBefore = readFileSync(join(withDb, 'edgehook.db'));

    const started = Date.now();
    const r1 = await run(dir, empty);
    expectOneClearLine(r1, empty, /data directory/, /not writable|read-only|EROFS/i);
    const r2 = await run(dir, withDb);
    expectOneClearLine(r2, withDb, /data directory/, /not writable|read-only|EROFS/i);
    // It gives up at once rather than retrying in a loop.
    expect(Date.now() - started).toBeLessThan(50_000);
    expect(readFileSync(join(withDb, 'edgehook.db')).equals(dbBefore)).toBe(true);
    expect(readdirSync(withDb).sort()).toEqual(['edgehook.db']);
    expect(readdirSync(empty)).toEqual([]);
  });
});
