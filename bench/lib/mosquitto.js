// A throw-away Mosquitto on 127.0.0.1 for one benchmark run.
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked } from './procs.js';
import { fatal, freePort, waitFor } from './util.js';

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

/**
 * The broker must not be what limits the agent: QoS 1 in-flight and queue limits are raised
 * (defaults 20 and 1000; with the default 1000-message queue a subscriber that falls behind a
 * flat-out publisher loses messages), persistence is off and TCP_NODELAY is on.
 */
export const MOSQUITTO_SETTINGS = {
  max_inflight_messages: 1000,
  max_queued_messages: 1_000_000,
  max_queued_bytes: 0,
  persistence: false,
  set_tcp_nodelay: true,
};

export function mosquittoVersion() {
  try {
    const out = execFileSync(MOSQUITTO_BIN, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch (err) {
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return /mosquitto version (\S+)/.exec(text)?.[1] ?? 'unknown';
  }
}

/** Starts Mosquitto on a free port; resolves once it accepts TCP connections. */
export async function startMosquitto(tmp) {
  const dir = join(tmp, 'mosquitto');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    ...Object.entries(MOSQUITTO_SETTINGS).map(([k, v]) => `${k} ${v}`),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  // Started as root, Mosquitto drops to user "mosquitto" unless told otherwise.
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const child = spawnTracked(MOSQUITTO_BIN, ['-c', conf], { logFile: join(dir, 'mosquitto.log') });
  let exitInfo;
  child.once('exit', (code, signal) => (exitInfo = code ?? signal));
  await waitFor(
    `mosquitto to listen on 127.0.0.1:${port}`,
    () => {
      if (exitInfo !== undefined)
        throw fatal(`mosquitto exited (${exitInfo}): ${/** @type {any} */ (child).stderrText.trim()}`);
      return canConnect(port);
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return { child, port, url: `mqtt://127.0.0.1:${port}` };
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
