import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Makes chosen writes, syncs and opens fail with EIO inside a child process while it runs: the
 * LD_PRELOAD library in eio-shim.c, compiled here with gcc into a temp dir. The child is
 * started with `env`; `on()` and `off()` flip a control file it checks on every affected call.
 */

export type EioOp = 'write' | 'fsync' | 'open';

export interface EioInjector {
  /** Environment for the child: LD_PRELOAD and the shim's settings. */
  env: Record<string, string>;
  /** Faults for `ops` (all three when empty) on matching files, from the child's next call on. */
  on(ops?: EioOp[]): void;
  off(): void;
  /** Faults injected so far, one line each ("write fd 12", "open /x/edgehook.db-wal"). */
  faults(): string[];
  cleanup(): void;
}

const SOURCE = join(import.meta.dirname, 'eio-shim.c');

/** Fails with what it needs when gcc is missing or the library does not build. */
export function buildEioInjector(options: { match?: string[] } = {}): EioInjector {
  if (spawnSync('gcc', ['--version']).error)
    throw new Error('gcc is needed to build the EIO shim (apt-get install -y gcc)');
  const dir = mkdtempSync(join(tmpdir(), 'edgehook-eio-'));
  const lib = join(dir, 'eio-shim.so');
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', lib, SOURCE, '-ldl'], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not build ${SOURCE}: ${stderr || (err as Error).message}`);
  }
  const control = join(dir, 'switch');
  const log = join(dir, 'faults.log');
  return {
    env: {
      LD_PRELOAD: lib,
      EDGEHOOK_EIO_CONTROL: control,
      EDGEHOOK_EIO_MATCH: (options.match ?? ['.db']).join(','),
      EDGEHOOK_EIO_LOG: log,
      // libuv may hand file syscalls to io_uring, past any LD_PRELOAD: keep them in glibc.
      UV_USE_IO_URING: '0',
    },
    on(ops = []) {
      writeFileSync(control, ops.join(' '));
    },
    off() {
      rmSync(control, { force: true });
    },
    faults() {
      return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
