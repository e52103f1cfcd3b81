import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointConfig } from '../config/schema.js';
import { EdgehookError, ErrorCodes } from '../errors.js';
import { DB_FILE_NAME, openDb, type Db } from '../outbox/open-db.js';
import { diskErrorKind, RESERVE_FILE_NAME } from '../outbox/disk-guard.js';
import type { OutboxStore, RouteTarget } from '../outbox/outbox-store.js';

/**
 * Opens the database; on a disk too full even for that (a WAL to create, a migration to run),
 * gives up the reserve file left by the last run and tries once more.
 */
export function openDbOnFullDisk(dataDir: string): Db {
  try {
    return openDb(dataDir);
  } catch (err) {
    if (diskErrorKind(err) === undefined && diskErrorKind((err as Error).cause) === undefined) throw err;
    rmSync(join(dataDir, RESERVE_FILE_NAME), { force: true });
    return openDb(dataDir);
  }
}

/**
 * Makes the outbox with `create`. A database whose pages are damaged opens, then fails on the
 * first read: the same clear DB_CORRUPT error as a file that is not a database at all, and the
 * file left untouched.
 */
export function openOutbox(create: () => OutboxStore, dataDir: string): OutboxStore {
  try {
    return create();
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
      throw new EdgehookError(
        ErrorCodes.DB_CORRUPT,
        `the outbox database ${join(dataDir, DB_FILE_NAME)} is damaged (${code}); it was left untouched: ` +
          'move it away to start empty, or restore it from a backup',
        { cause },
      );
    }
    throw cause;
  }
}

/** What the outbox routes new events to: the enabled endpoints and their type filters. */
export function enabledRoutes(endpoints: readonly EndpointConfig[]): RouteTarget[] {
  return endpoints.filter((e) => e.enabled).map((e) => ({ id: e.id, types: e.types }));
}
