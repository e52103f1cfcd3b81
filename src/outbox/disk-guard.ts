import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  statSync,
  statfsSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

/**
 * A full disk is a state, not a crash (README, "Guarantees"). The partition can fill before
 * storage.maxBytes does (an SD card shared with logs), and any write can fail with an I/O
 * error. The outbox reports each failed write here; the guard
 *
 * - says "disk full: holding" (or "disk error: holding") once per change of state, and ingest
 *   stops acking while it holds: the broker keeps the messages;
 * - gives up a reserve file in the data directory (storage.reserveBytes), so that the deletes
 *   and checkpoints that free room can still run, and asks the outbox to free room (settled
 *   events kept only for the log go first, counted);
 * - lets ingest try again once there is room: the file system has room for the reserve again
 *   (taken back first), or pruning freed pages inside the database, which new events reuse
 *   even while the file system stays full; it says "resumed" at the first commit that
 *   succeeds, and takes the reserve back as soon as the file system has room for it;
 * - holds ingest while the file system has less than storage.minFreeBytes free, before SQLite
 *   ever meets a full disk (pages freed inside the database may still be filled: the file does
 *   not grow for them).
 */

export type DiskState = 'ok' | 'full' | 'io-error';

export interface DiskStatus {
  state: DiskState;
  /**
   * Why ingest holds when full: SQLite met a full disk ("no-space"), or the file system has
   * less than storage.minFreeBytes free ("min-free"). Null when ok.
   */
  reason: 'no-space' | 'min-free' | 'io-error' | null;
  /** Free bytes of the data directory's file system, as last read. */
  freeBytes: number | null;
  /** Bytes the reserve file holds now (0 while given up). */
  reserveBytes: number;
  /** When the state last changed (epoch ms). */
  since: number;
}

export interface DiskGuardDeps {
  dataDir: string;
  reserveBytes: number;
  minFreeBytes: number;
  logger: Logger;
  clock: Clock;
  /** Frees room under disk pressure (prune what is kept only for the log, checkpoint the WAL). */
  relieve: () => void;
  /** Bytes free inside the database (pages pruning released), which new rows reuse. */
  roomInside?: () => number;
  /** Tests: the free bytes of the file system holding `dir`. */
  freeBytes?: (dir: string) => number;
}

export const RESERVE_FILE_NAME = 'reserve.bin';
/** While held, ingest looks for room (and tries again after an I/O error) this often. */
export const DISK_RETRY_MS = 1000;
/** How long a free-space reading is trusted (a statfs per group commit would be wasted work). */
const FREE_CACHE_MS = 250;
/** Room the file system needs beyond what it must keep free before ingest grows the file again. */
const HEADROOM = 1024 * 1024;
/**
 * Free pages inside the database worth resuming for (a few group commits' worth; new rows use
 * them without growing the file), and the level under which ingest holds again.
 */
const ROOM_INSIDE = 64 * 1024;
const ROOM_INSIDE_LOW = 16 * 1024;
const CHUNK = 1024 * 1024;
/** Messages per ingest commit while the disk is short of room (see groupLimit). */
const SMALL_GROUP = 50;

/** SQLITE_FULL and every SQLITE_IOERR_* (better-sqlite3 puts the extended code in `code`). */
export function diskErrorKind(err: unknown): 'full' | 'io-error' | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return 'io-error';
  return undefined;
}

export class DiskGuard {
  private readonly deps: DiskGuardDeps;
  private readonly reservePath: string;
  private current: DiskState = 'ok';
  private reason: DiskStatus['reason'] = null;
  private since: number;
  private lastLookAt = Number.NEGATIVE_INFINITY;
  private reserveHeld = 0;
  private free: { at: number; bytes: number | null } = { at: Number.NEGATIVE_INFINITY, bytes: null };
  private reserveTimer: NodeJS.Timeout | undefined;

  constructor(deps: DiskGuardDeps) {
    this.deps = deps;
    this.reservePath = join(deps.dataDir, RESERVE_FILE_NAME);
    this.since = deps.clock.now();
  }

  /** Takes the reserve (a full disk at start is a state too: the agent starts, holding). */
  start(): void {
    if (!this.takeReserve()) this.enter('full', 'no-space', new Error('no room for the reserve file'));
  }

  stop(): void {
    if (this.reserveTimer) clearTimeout(this.reserveTimer);
    this.reserveTimer = undefined;
  }

  get state(): DiskState {
    return this.current;
  }

  status(): DiskStatus {
    return {
      state: this.current,
      reason: this.reason,
      freeBytes: this.readFree(),
      reserveBytes: this.reserveHeld,
      since: this.since,
    };
  }

  /**
   * Whether ingest may try a commit now. The file system must keep storage.minFreeBytes free,
   * and the room of a reserve given up stays for deletes and checkpoints: ingest does not grow
   * the database into either, but may fill pages pruning freed inside it (the file does not
   * grow for those). While held it looks again every DISK_RETRY_MS, pruning what the log keeps.
   */
  mayIngest(): boolean {
    const now = this.deps.clock.now();
    if (this.current === 'io-error') return now - this.lastLookAt >= DISK_RETRY_MS;
    const mustKeep = this.mustKeep();
    if (this.current === 'ok') {
      const free = this.readFree();
      if (free === null || free >= mustKeep || this.roomInside() >= ROOM_INSIDE_LOW) return true;
      this.lastLookAt = now;
      this.enter('full', free < this.deps.minFreeBytes ? 'min-free' : 'no-space', undefined);
      return false;
    }
    if (now - this.lastLookAt < DISK_RETRY_MS) return false;
    this.lastLookAt = now;
    const free = this.readFree(true);
    if (free !== null && free >= mustKeep + HEADROOM) {
      this.takeReserve();
      return true;
    }
    // Events delivered since the last look are kept only for the log: they go now.
    this.relieve();
    return this.roomInside() >= ROOM_INSIDE;
  }

  /**
   * How many messages one ingest commit may take now. While the file system has less room than
   * it must keep plus HEADROOM, ingest lives on pages freed inside the database and on what the
   * WAL may still grow by: a group commit of thousands held messages would need more than that
   * and fail every time, so groups stay small until there is room again.
   */
  groupLimit(): number {
    const free = this.readFree();
    const mustKeep = this.mustKeep();
    return free === null || free >= mustKeep + HEADROOM ? Number.POSITIVE_INFINITY : SMALL_GROUP;
  }

  /**
   * A write failed. Returns true when it was the disk (full or I/O error): the state changes
   * and room is made; other errors are the caller's.
   */
  noteWriteError(err: unknown): boolean {
    const kind = diskErrorKind(err);
    if (!kind) return false;
    this.lastLookAt = this.deps.clock.now();
    if (kind === 'io-error') this.enter('io-error', 'io-error', err);
    else this.enter('full', 'no-space', err);
    return true;
  }

  /** An ingest commit succeeded: whatever held it is over. */
  noteWriteOk(): void {
    if (this.current !== 'ok') this.recovered();
  }

  private enter(state: DiskState, reason: DiskStatus['reason'], err: unknown): void {
    if (this.current !== state || this.reason !== reason) this.announce(state, reason, err);
    // SQLite met a full disk: the reserve goes, so that deletes and checkpoints can run.
    if (reason === 'no-space') this.releaseReserve();
    if (state === 'full') this.relieve();
  }

  private announce(state: DiskState, reason: DiskStatus['reason'], err: unknown): void {
    const was = this.current;
    const changed = was !== state;
    this.current = state;
    this.reason = reason;
    this.since = this.deps.clock.now();
    this.free.at = Number.NEGATIVE_INFINITY;
    // One line per change of state (a change of reason alone is debug).
    const info = {
      was,
      reason,
      err: err === undefined ? undefined : ((err as Error).message ?? String(err)),
      freeBytes: this.readFree(),
      minFreeBytes: this.deps.minFreeBytes,
    };
    const level = !changed ? 'debug' : state === 'io-error' ? 'error' : 'warn';
    this.deps.logger[level](
      info,
      state === 'io-error'
        ? 'disk error: holding (not acking MQTT messages; delivery goes on)'
        : reason === 'min-free'
          ? 'disk full: holding (less than storage.minFreeBytes free; not acking MQTT messages; delivery goes on)'
          : 'disk full: holding (not acking MQTT messages; delivery goes on)',
    );
  }

  private recovered(): void {
    const was = this.current;
    this.current = 'ok';
    this.reason = null;
    this.since = this.deps.clock.now();
    this.free.at = Number.NEGATIVE_INFINITY;
    this.deps.logger.info({ was, freeBytes: this.readFree() }, 'disk has room again: ingest resumed');
    this.scheduleReserve(0);
  }

  private relieve(): void {
    try {
      this.deps.relieve();
    } catch (err) {
      this.deps.logger.debug({ err: (err as Error).message }, 'could not free room yet');
    }
  }

  /** What the file system must keep free: minFreeBytes, and the room of a reserve given up. */
  private mustKeep(): number {
    return this.deps.minFreeBytes + (this.deps.reserveBytes - this.reserveHeld);
  }

  private roomInside(): number {
    try {
      return this.deps.roomInside?.() ?? 0;
    } catch {
      return 0;
    }
  }

  /** Takes the reserve back once the file system has room for it beyond minFreeBytes. */
  private scheduleReserve(ms: number): void {
    if (this.reserveHeld >= this.deps.reserveBytes || this.reserveTimer) return;
    this.reserveTimer = setTimeout(() => {
      this.reserveTimer = undefined;
      if (!this.takeReserve()) this.scheduleReserve(DISK_RETRY_MS);
    }, ms);
    this.reserveTimer.unref();
  }

  /** Writes the reserve file in full (zeros, synced); false when there is no room for it. */
  private takeReserve(): boolean {
    const size = this.deps.reserveBytes;
    if (size <= 0 || this.reserveHeld >= size) return true;
    let fd: number | undefined;
    try {
      // Left by an earlier run: it is ours already.
      const existing = statSync(this.reservePath, { throwIfNoEntry: false });
      if (existing && existing.size >= size) {
        this.reserveHeld = size;
        return true;
      }
      const free = this.readFree(true);
      if (free !== null && free < size + this.deps.minFreeBytes) return false;
      fd = openSync(this.reservePath, 'w');
      const zeros = Buffer.alloc(Math.min(CHUNK, size));
      for (let written = 0; written < size; ) {
        written += writeSync(fd, zeros, 0, Math.min(zeros.length, size - written));
      }
      fsyncSync(fd);
      this.reserveHeld = size;
      return true;
    } catch (err) {
      this.deps.logger.debug({ err: (err as Error).message }, 'could not take the disk reserve yet');
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
      this.releaseReserve();
      return false;
    } finally {
      if (fd !== undefined) closeQuietly(fd);
      this.free.at = Number.NEGATIVE_INFINITY;
    }
  }

  private releaseReserve(): void {
    if (this.reserveHeld === 0 && !existsSync(this.reservePath)) return;
    try {
      unlinkSync(this.reservePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.deps.logger.warn({ err: (err as Error).message }, 'could not give up the disk reserve');
    }
    this.reserveHeld = 0;
    this.free.at = Number.NEGATIVE_INFINITY;
  }

  private readFree(fresh = false): number | null {
    const now = this.deps.clock.now();
    if (!fresh && now - this.free.at < FREE_CACHE_MS) return this.free.bytes;
    let bytes: number | null;
    try {
      bytes = this.deps.freeBytes ? this.deps.freeBytes(this.deps.dataDir) : freeBytesOf(this.deps.dataDir);
    } catch {
      bytes = null;
    }
    this.free = { at: now, bytes };
    return bytes;
  }
}

/** Bytes an unprivileged process may still write on the file system holding `dir`. */
export function freeBytesOf(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
