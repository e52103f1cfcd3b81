import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { EdgehookError, ErrorCodes } from '../errors.js';

/**
 * Which compiled SQLite driver better-sqlite3 loads in this process. better-sqlite3 is a classic
 * V8 addon: its .node file loads only in the runtime whose ABI it was built for. Node uses the
 * one npm built in node_modules (the default, `undefined`). The desktop app runs in Electron,
 * whose ABI differs, and points this at a driver built for Electron (docs/desktop.md, "The
 * SQLite driver") before any database opens. It belongs to the runtime, not to the
 * configuration, so it is set once per process rather than carried in Config.
 */
let driverFile: string | undefined;

/**
 * Makes every later openDb() load `file` (better-sqlite3's `nativeBinding`), after checking
 * that this runtime can load it: a missing or mismatched driver is reported here, with `hint`
 * (what to do about it), rather than as a failure to open the outbox. `undefined` restores the
 * default.
 */
export function useSqliteDriver(file: string | undefined, hint = ''): void {
  if (file === undefined) {
    driverFile = undefined;
    return;
  }
  const details = hint ? [hint] : [];
  if (!existsSync(file)) {
    throw new EdgehookError(ErrorCodes.SQLITE_DRIVER, `the SQLite driver ${file} is missing`, { details });
  }
  try {
    new Database(':memory:', { nativeBinding: file }).close();
  } catch (cause) {
    // Node's message names both ABIs ("compiled against … NODE_MODULE_VERSION 115. This version
    // … requires NODE_MODULE_VERSION 150"), the loader's names the wrong CPU ("wrong ELF class").
    throw new EdgehookError(
      ErrorCodes.SQLITE_DRIVER,
      `the SQLite driver ${file} cannot be loaded here: ${(cause as Error).message}`,
      { cause, details },
    );
  }
  driverFile = file;
}

/** better-sqlite3 options that select the driver; empty for the default. */
export function sqliteDriverOptions(): { nativeBinding?: string } {
  return driverFile === undefined ? {} : { nativeBinding: driverFile };
}
