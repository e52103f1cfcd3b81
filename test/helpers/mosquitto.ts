import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './net.js';
import { connect } from 'node:net';

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(
  (p) => spawnSync(p, ['-h']).error === undefined,
);

/** Fails (never skips) when Mosquitto is missing: CI installs it; locally, apt-get install mosquitto. */
export function requireMosquitto(): string {
  if (!MOSQUITTO)
    throw new Error('mosquitto is not installed: apt-get install -y mosquitto (CI installs it in .ci/run)');
  return MOSQUITTO;
}

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  kill(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A real Mosquitto on a free loopback port, with persistence in a temp dir so a restart keeps
 * queued session messages. `user root` because Mosquitto started as root otherwise drops to a
 * user that cannot write the temp dir (docs/development.md "System packages").
 */
export async function startMosquitto(options: { extraConfig?: string } = {}): Promise<Mosquitto> {
  const bin = requireMosquitto();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'edgehook-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'max_queued_messages 0',
      'max_inflight_messages 100',
      'user root',
      options.extraConfig ?? '',
    ].join('\n'),
  );
  let proc: ChildProcess | undefined;
  const m: Mosquitto = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    async start() {
      proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      proc.stderr?.on('data', (d) => (err += d));
      await waitFor(() => canConnect(port), `mosquitto on port ${port} (${err.trim()})`, 10_000, 25);
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
    async kill() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await m.stop();
      await m.start();
    },
    async cleanup() {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await m.start();
  return m;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
