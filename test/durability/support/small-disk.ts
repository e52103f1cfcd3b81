import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A real small disk: a tmpfs of a given size mounted on a directory, so SQLite meets a true
 * ENOSPC (SQLITE_FULL) as on an SD card shared with logs. Needs root (CI runs as root).
 */

export interface SmallDisk {
  dir: string;
  sizeBytes: number;
  /** Free bytes on the disk right now, as an unprivileged process sees them. */
  freeBytes(): number;
  /**
   * Grows a filler file (a "log" sharing the partition) until at most `leaveBytes` are free or
   * the disk refuses; returns how many bytes it wrote this time.
   */
  fill(leaveBytes?: number, name?: string): number;
  /** Removes the filler files. */
  drain(): void;
  /** Unmounts (lazily, so an open file cannot keep it busy) and removes the directory. */
  cleanup(): void;
}

/**
 * Mounts a `sizeBytes` tmpfs on `dir` (created if missing). Under CI=true a failed mount
 * throws; elsewhere it returns undefined with `skipReason` saying what is needed.
 */
export function mountSmallDisk(
  dir: string,
  sizeBytes: number,
): { disk: SmallDisk; skipReason?: undefined } | { disk?: undefined; skipReason: string } {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0) {
    const why = `needs root to mount a ${sizeBytes}-byte tmpfs on ${dir} (mount -t tmpfs): ${
      r.error?.message ?? r.stderr.trim()
    }`;
    if (process.env.CI === 'true') throw new Error(why);
    return { skipReason: why };
  }
  const fillers: string[] = [];
  const disk: SmallDisk = {
    dir,
    sizeBytes,
    freeBytes() {
      const s = statfsSync(dir);
      return Number(s.bavail) * Number(s.bsize);
    },
    fill(leaveBytes = 0, name = 'app.log') {
      const file = join(dir, name);
      if (!fillers.includes(file)) fillers.push(file);
      const fd = openSync(file, 'a');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let written = 0;
      try {
        // Bounded by the disk's size: each pass writes at least one byte or stops.
        for (let pass = 0; pass < sizeBytes; pass++) {
          const room = disk.freeBytes() - leaveBytes;
          if (room <= 0) break;
          try {
            const n = writeSync(fd, chunk, 0, Math.min(chunk.length, room));
            if (n <= 0) break;
            written += n;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    drain() {
      for (const f of fillers.splice(0)) rmSync(f, { force: true });
    },
    cleanup() {
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return { disk };
}
