import { closeSync, fdatasync, fstatSync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

/**
 * Makes committed WAL frames durable on libuv's thread pool, so the event loop never waits for
 * the disk (BENCHMARKS.md).
 *
 * In WAL mode, synchronous=FULL differs from NORMAL in one thing only: FULL syncs the WAL file
 * at every commit, while NORMAL syncs it before each checkpoint (and the database file after
 * it), so a NORMAL commit survives a crash of the process but not a power cut. Ingest commits
 * with NORMAL and then calls afterSync(): once our own fdatasync() of the same WAL file has
 * returned, everything written to it before the call is on disk, exactly as FULL would have
 * left it. The MQTT acks wait for that, and the event loop goes on delivering meanwhile; on an
 * SD card a sync takes 5–20 ms. Commits made while a sync runs share the next one.
 *
 * The WAL file lives as long as the database connection. It is re-opened if it is ever
 * replaced, and its directory entry is synced once per file, as SQLite does for a new WAL.
 */
export class WalSync {
  private fd: number | undefined;
  private ino: number | bigint | undefined;
  private running = false;
  private closed = false;
  private waiting: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly walFile: string,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {}

  /** Calls `done` once everything committed before this call is on disk. */
  afterSync(done: () => void): void {
    if (this.closed) return;
    this.waiting.push(done);
    if (!this.running && !this.retryTimer) this.start();
  }

  /** Resolves when no sync is running or waiting (callbacks given before have been called). */
  idle(): Promise<void> {
    if (this.closed || (!this.running && this.waiting.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    let fd: number;
    try {
      fd = this.currentFd();
    } catch (err) {
      this.failed(batch, err as Error);
      return;
    }
    fdatasync(fd, (err) => {
      this.running = false;
      if (this.closed) return this.closeFd();
      if (err) return this.failed(batch, err);
      for (const done of batch) done();
      if (this.waiting.length > 0) this.start();
      else for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /**
   * The disk refused the sync: what the commit wrote may not be on it. Nothing waiting is
   * released (its MQTT acks stay held, the broker keeps the messages) until a later sync
   * succeeds. (After a failed sync Linux may mark the pages clean, so even that is no proof;
   * a disk that fails syncs is failing, and each failure is logged as an error.)
   */
  private failed(batch: (() => void)[], err: Error): void {
    this.running = false;
    if (this.closed) return;
    this.waiting = batch.concat(this.waiting);
    this.log.error(
      { err: err.message, file: this.walFile },
      `cannot sync the outbox to disk; holding MQTT acks, retrying in ${this.retryMs} ms`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && this.waiting.length > 0) this.start();
    }, this.retryMs);
  }

  private currentFd(): number {
    const ino = statSync(this.walFile, { bigint: true }).ino;
    if (this.fd !== undefined && ino === this.ino) return this.fd;
    this.closeFd();
    this.fd = openSync(this.walFile, 'r+');
    this.ino = fstatSync(this.fd, { bigint: true }).ino;
    syncDirectory(dirname(this.walFile));
    return this.fd;
  }

  /** Stops; callbacks still waiting are dropped (their acks are never sent, which is safe). */
  close(): void {
    this.closed = true;
    this.waiting = [];
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
    // A sync on the thread pool still uses the fd: it is closed when that one returns.
    if (!this.running) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already gone */
    }
    this.fd = undefined;
    this.ino = undefined;
  }
}

/** A new file's name is durable only once its directory is synced (not possible on Windows). */
function syncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
