import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Kills a child process (SIGKILL) right after it writes its next MQTT PUBACK: the LD_PRELOAD
 * library in crash-at-ack.c, compiled here with gcc into a temp dir. The child is started with
 * `env`; `arm()` makes its next PUBACK its last, once.
 */
export interface CrashAtAck {
  env: Record<string, string>;
  arm(): void;
  /** The crash happened since the last arm() (the library removes the switch as it fires). */
  fired(): boolean;
  /**
   * Resolves when the armed crash has killed `proc` (at once when it is already dead); rejects,
   * naming what did not happen, when it has not within `timeoutMs`.
   */
  crashed(proc: ChildProcess, timeoutMs?: number): Promise<void>;
  cleanup(): void;
}

const SOURCE = join(import.meta.dirname, 'crash-at-ack.c');

/** Fails with what it needs when gcc is missing or the library does not build. */
export function buildCrashAtAck(): CrashAtAck {
  if (spawnSync('gcc', ['--version']).error)
    throw new Error('gcc is needed to build the crash-at-ack shim (apt-get install -y gcc)');
  const dir = mkdtempSync(join(tmpdir(), 'edgehook-crash-'));
  const lib = join(dir, 'crash-at-ack.so');
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', lib, SOURCE, '-ldl'], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not build ${SOURCE}: ${stderr || (err as Error).message}`);
  }
  const control = join(dir, 'armed');
  return {
    env: { LD_PRELOAD: lib, EDGEHOOK_CRASH_CONTROL: control },
    arm() {
      writeFileSync(control, '');
    },
    fired() {
      return !existsSync(control);
    },
    crashed(proc, timeoutMs = 20_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no crash within ${timeoutMs} ms: the agent wrote no PUBACK while armed`)),
          timeoutMs,
        );
        proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
