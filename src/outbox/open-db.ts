import { accessSync, constants, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EdgehookError, ErrorCodes } from '../errors.js';
import { LATEST_VERSION, MIGRATIONS } from './migrations/index.js';
import { sqliteDriverOptions } from './sqlite-driver.js';

export type Db = Database.Database;

export const DB_FILE_NAME = 'edgehook.db';

/** Makes sure the data directory exists and is writable, with an error a person can act on. */
export function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK | constants.R_OK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    // "not writable" would send someone hunting for a permission problem that is not there.
    const what =
      code === 'ENOTDIR'
        ? 'cannot be created: part of its path is a file, not a directory'
        : code === 'EEXIST'
          ? 'cannot be created: a file with that name is in the way'
          : 'is not writable';
    throw new EdgehookError(
      ErrorCodes.DATA_DIR,
      `data directory ${dataDir} ${what} (${code}): fix it or choose another with --data-dir`,
      { cause },
    );
  }
}

/**
 * Opens (creating if needed) the outbox database with the durability settings of docs/architecture.md, "The promise":
 * WAL and synchronous=FULL, so a committed event survives a power cut. Runs the migrations in one
 * transaction and refuses a database written by a newer Edgehook. A file that is not a database
 * is an error, never silently replaced.
 */
export function openDb(dataDir: string, options: { readonly?: boolean } = {}): Db {
  if (!options.readonly) ensureDataDir(dataDir);
  const file = join(dataDir, DB_FILE_NAME);
  if (options.readonly && !existsSync(file)) {
    throw new EdgehookError(ErrorCodes.DB_OPEN, `no outbox database at ${file}`);
  }
  let db: Db;
  try {
    db = new Database(file, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      ...sqliteDriverOptions(),
    });
  } catch (cause) {
    throw new EdgehookError(
      ErrorCodes.DB_OPEN,
      `cannot open the outbox database ${file}: ${(cause as Error).message}`,
      { cause },
    );
  }
  try {
    db.pragma('busy_timeout = 5000');
    // The version is checked before anything that writes: switching to WAL rewrites the file
    // header, and a database from a newer Edgehook must be left exactly as it was.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > LATEST_VERSION) {
      throw new EdgehookError(
        ErrorCodes.DB_FROM_FUTURE,
        `the outbox database ${file} is version ${version}, newer than this Edgehook understands (${LATEST_VERSION}): ` +
          'run a newer Edgehook, or move the file away to start empty',
      );
    }
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = OFF');
    if (!options.readonly) migrate(db, version);
    return db;
  } catch (cause) {
    db.close();
    if (cause instanceof EdgehookError) throw cause;
    const code = (cause as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new EdgehookError(
        ErrorCodes.DB_CORRUPT,
        `the outbox database ${file} is damaged or not a database (${code}); it was left untouched: ` +
          'move it away to start empty, or restore it from a backup',
        { cause },
      );
    }
    throw new EdgehookError(
      ErrorCodes.DB_OPEN,
      `cannot open the outbox database ${file}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function migrate(db: Db, from: number): void {
  const pending = MIGRATIONS.filter((m) => m.version > from);
  if (pending.length === 0) return;
  db.transaction(() => {
    for (const m of pending) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
  }).immediate();
}
