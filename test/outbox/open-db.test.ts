import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DB_FILE_NAME, openDb, type Db } from '../../src/outbox/open-db.js';
import { LATEST_VERSION } from '../../src/outbox/migrations/index.js';
import { EdgehookError, ErrorCodes } from '../../src/errors.js';
import { tempDir } from '../helpers/agent.js';

let dirs: string[] = [];
let dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs) if (db.open) db.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  dbs = [];
});

function dir(): string {
  const d = tempDir('edgehook-opendb-');
  dirs.push(d);
  return d;
}

function open(dataDir: string): Db {
  const db = openDb(dataDir);
  dbs.push(db);
  return db;
}

/** The error openDb throws, or a test failure when it opens. */
function openError(dataDir: string): EdgehookError {
  try {
    open(dataDir);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgehookError);
    return err as EdgehookError;
  }
  throw new Error(`openDb(${dataDir}) opened; an error was expected`);
}

describe('openDb', () => {
  it('creates a database in WAL mode with synchronous=FULL at the latest schema version', () => {
    const dataDir = join(dir(), 'nested', 'data');
    const db = open(dataDir);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA): a committed event survives a power cut (README "Guarantees" 1).
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(LATEST_VERSION).toBeGreaterThan(0);
    expect(db.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .pluck()
      .all();
    expect(tables).toEqual(
      expect.arrayContaining(['attempts', 'counters', 'deliveries', 'events', 'mqtt_inflight']),
    );
    expect(readdirSync(dataDir)).toContain(DB_FILE_NAME);
  });

  it('keeps data across a reopen and does not re-run migrations', () => {
    const dataDir = dir();
    const db = open(dataDir);
    db.prepare(`INSERT INTO counters (name, value) VALUES ('received', 42)`).run();
    db.close();

    const again = open(dataDir);
    expect(again.prepare(`SELECT value FROM counters WHERE name = 'received'`).pluck().get()).toBe(42);
    expect(again.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
    // WAL is a property of the file, synchronous of the connection: both must hold on reopen.
    expect(again.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(again.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('refuses a database written by a newer Edgehook and leaves the file byte for byte as it was', () => {
    const dataDir = dir();
    const file = join(dataDir, DB_FILE_NAME);
    const newer = new Database(file);
    newer.exec(`CREATE TABLE future_things (x INTEGER); INSERT INTO future_things VALUES (1);`);
    newer.pragma(`user_version = ${LATEST_VERSION + 1}`);
    newer.close();
    const before = readFileSync(file);

    const err = openError(dataDir);
    expect(err.code).toBe(ErrorCodes.DB_FROM_FUTURE);
    expect(err.message).toContain(file);
    expect(err.message).toContain(`version ${LATEST_VERSION + 1}`);
    expect(readFileSync(file).equals(before)).toBe(true);
    // Not switched to WAL either: no sidecar files were created next to it.
    expect(readdirSync(dataDir)).toEqual([DB_FILE_NAME]);
  });

  it('refuses a file of garbage named edgehook.db as DB_CORRUPT and never replaces it', () => {
    const dataDir = dir();
    const file = join(dataDir, DB_FILE_NAME);
    const garbage = Buffer.alloc(16_384);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(file, garbage);

    const err = openError(dataDir);
    expect(err.code).toBe(ErrorCodes.DB_CORRUPT);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/untouched/);
    expect(readFileSync(file).equals(garbage)).toBe(true);
    expect(readdirSync(dataDir)).toEqual([DB_FILE_NAME]);
    // Asking again gives the same answer: the first attempt did not "repair" anything.
    expect(openError(dataDir).code).toBe(ErrorCodes.DB_CORRUPT);
  });

  it('refuses a truncated real database as DB_CORRUPT and leaves it as it was', () => {
    const source = dir();
    const db = open(source);
    db.prepare(`INSERT INTO counters (name, value) VALUES ('received', 7)`).run();
    db.close();
    const whole = readFileSync(join(source, DB_FILE_NAME));
    expect(whole.length).toBeGreaterThan(8192);

    const dataDir = dir();
    const file = join(dataDir, DB_FILE_NAME);
    const truncated = whole.subarray(0, 4096);
    writeFileSync(file, truncated);
    expect(openError(dataDir).code).toBe(ErrorCodes.DB_CORRUPT);
    expect(readFileSync(file).equals(truncated)).toBe(true);
  });

  it('gives a clear DATA_DIR error when the data directory cannot be created (a file is in its path)', () => {
    // chmod 555 does not stop root (CI runs as root); a regular file in the path stops everyone.
    const base = dir();
    writeFileSync(join(base, 'afile'), 'not a directory');
    const dataDir = join(base, 'afile', 'data');

    const err = openError(dataDir);
    expect(err.code).toBe(ErrorCodes.DATA_DIR);
    expect(err.message).toContain(dataDir);
    expect(err.message).toContain('ENOTDIR');
    expect(err.message).toMatch(/not a directory/);
    expect(err.message).toContain('--data-dir');
    expect(err.message).not.toContain('\n');
    expect(readFileSync(join(base, 'afile'), 'utf8')).toBe('not a directory');
  });

  it('gives a clear DATA_DIR error when the data directory is itself a file', () => {
    const base = dir();
    const dataDir = join(base, 'data');
    writeFileSync(dataDir, 'oops');
    const err = openError(dataDir);
    expect(err.code).toBe(ErrorCodes.DATA_DIR);
    expect(err.message).toContain(dataDir);
    expect(err.message).not.toMatch(/permission/i);
    expect(readFileSync(dataDir, 'utf8')).toBe('oops');
  });

  it('opens read-only without creating anything, and says so when there is no database', () => {
    const dataDir = join(dir(), 'absent');
    expect(() => openDb(dataDir, { readonly: true })).toThrow(
      expect.objectContaining({ code: ErrorCodes.DB_OPEN }),
    );
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);

    const existing = dir();
    open(existing).close();
    const ro = openDb(existing, { readonly: true });
    dbs.push(ro);
    expect(ro.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
    expect(() => ro.prepare(`INSERT INTO counters (name, value) VALUES ('x', 1)`).run()).toThrow(/readonly/i);
  });

  it('migrates an empty database file (created by someone touching it) instead of calling it corrupt', () => {
    const dataDir = dir();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, DB_FILE_NAME), '');
    const db = open(dataDir);
    expect(db.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
  });
});
