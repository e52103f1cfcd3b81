import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How the previous run ended, for `edgehook.agent.started` (README "Health as webhooks"). A
 * start writes "running" into dataDir/run-state.json; a clean stop overwrites it with "clean".
 * So a start that finds "running" follows a crash, a kill -9 or a power cut; one that finds
 * nothing and no outbox database is the first start of this data directory.
 */

export type PreviousStop = 'clean' | 'crash' | 'first-start';

export const RUN_STATE_FILE = 'run-state.json';

interface RunState {
  state: 'running' | 'clean';
  pid: number;
  at: number;
}

export class RunMarker {
  private readonly file: string;
  private marked = false;

  /** `onWriteError`: the marker could not be written (a full disk); the run goes on. */
  constructor(
    dataDir: string,
    private readonly onWriteError: (err: unknown) => void = () => undefined,
  ) {
    this.file = join(dataDir, RUN_STATE_FILE);
  }

  /**
   * Reads how the last run ended, then records that this one runs. `databaseExisted`: whether
   * the outbox database was there before this start (a data directory from before this file
   * existed has a database but no marker; its unknown last stop counts as a crash).
   */
  begin(databaseExisted: boolean, now: number): PreviousStop {
    const last = this.read();
    const previous: PreviousStop =
      last === undefined ? (databaseExisted ? 'crash' : 'first-start') : last === 'clean' ? 'clean' : 'crash';
    // A full disk at start is a state, not a failed start: without a marker the next start
    // cannot say "clean", so it says "crash" (a "clean" left from before must not stay).
    this.marked = this.write({ state: 'running', pid: process.pid, at: now });
    if (!this.marked) {
      try {
        rmSync(this.file, { force: true });
      } catch (err) {
        this.onWriteError(err);
      }
    }
    return previous;
  }

  /** Records a clean stop; only a run that began records one. */
  markClean(now: number): void {
    if (!this.marked) return;
    this.write({ state: 'clean', pid: process.pid, at: now });
    this.marked = false;
  }

  private read(): RunState['state'] | undefined {
    try {
      const state = (JSON.parse(readFileSync(this.file, 'utf8')) as Partial<RunState>).state;
      return state === 'clean' || state === 'running' ? state : 'running';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      // Unreadable or torn: whatever wrote it did not finish cleanly.
      return 'running';
    }
  }

  /**
   * Synced before the rename: after a power cut the file says one state or the other, whole.
   * False when the disk refused it (told to onWriteError; the old file stays).
   */
  private write(state: RunState): boolean {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o644);
      try {
        writeSync(fd, `${JSON.stringify(state)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
      return true;
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        /* the disk that refused the write may refuse this too; the next start overwrites it */
      }
      this.onWriteError(err);
      return false;
    }
  }
}
