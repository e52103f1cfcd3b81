import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';

/**
 * The desktop app has no terminal, so the agent's log lines go to a file (opened from the tray
 * or the UI). Kept bounded the simple way: past maxBytes at start-up the file becomes
 * edgehook.log.1, replacing the previous one. A gateway restarts rarely, so the cap is generous.
 */

export const LOG_MAX_BYTES = 10 * 1024 * 1024;

export interface DesktopLog {
  stream: Writable;
  close(): Promise<void>;
}

export function rotateIfLarge(file: string, maxBytes: number): boolean {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  fs.renameSync(file, `${file}.1`);
  return true;
}

/** With `alsoStdout` (development), lines are copied to the terminal that ran `npm run desktop`. */
export function openDesktopLog(file: string, opts: { alsoStdout: boolean; maxBytes?: number }): DesktopLog {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  rotateIfLarge(file, opts.maxBytes ?? LOG_MAX_BYTES);
  const out = fs.createWriteStream(file, { flags: 'a', mode: 0o600 });
  // A log that cannot be written (disk full, permissions) must not take the agent down with
  // an unhandled 'error' event: say so once on stderr and drop the lines.
  out.once('error', (err) => process.stderr.write(`edgehook: cannot write ${file}: ${err.message}\n`));
  const tee = new PassThrough();
  tee.pipe(out);
  if (opts.alsoStdout) tee.pipe(process.stdout, { end: false });
  return {
    stream: tee,
    close: () =>
      new Promise<void>((resolve) => {
        if (out.closed || out.destroyed) return resolve();
        out.once('close', () => resolve());
        tee.end();
      }),
  };
}
