import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { skipNote } from '../helpers/skip-note.js';
import { renderUnit, UNIT_DEFAULTS } from '../../src/systemd/unit-file.js';
import { launcherNodeFlags } from '../../src/cli/launcher-flags.js';
import { ROOT, tempDir } from '../helpers/agent.js';
import { freePort, waitFor } from '../helpers/net.js';
import { FakeNotifySocket, haveSystemdNotify } from './notify-socket.js';

/** The shipped unit, `edgehook service`, and `edgehook run` talking to systemd. */

const BIN = join(ROOT, 'bin/edgehook.js');
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !k.startsWith('EDGEHOOK_') && k !== 'NOTIFY_SOCKET' && !k.startsWith('WATCHDOG_'),
  ),
);

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function dir(): string {
  const d = tempDir('edgehook-svc-');
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: ENV, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

const directive = (unit: string, key: string) =>
  unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
// Skipped only outside CI on a machine without systemd; under CI=true it must run.
const haveAnalyze = process.env.CI === 'true' || existsSync('/usr/bin/systemd-analyze');

describe('the systemd unit', () => {
  const shipped = readFileSync(join(ROOT, 'packaging/edgehook.service'), 'utf8');

  it('packaging/edgehook.service is the rendered template (one source, no drift)', () => {
    expect(shipped).toBe(renderUnit(UNIT_DEFAULTS));
  });

  it('is Type=notify with a watchdog, restarts on failure, runs as its own user, hardened', () => {
    expect(directive(shipped, 'Type')).toEqual(['notify']);
    expect(directive(shipped, 'NotifyAccess')).toEqual(['all']);
    expect(Number(directive(shipped, 'WatchdogSec')[0])).toBeGreaterThan(0);
    expect(directive(shipped, 'Restart')).toEqual(['on-failure']);
    expect(directive(shipped, 'User')).toEqual(['edgehook']);
    expect(directive(shipped, 'ExecStart')[0]).toMatch(
      / run --config \/etc\/edgehook\/edgehook\.yaml --data-dir \/var\/lib\/edgehook$/,
    );
    expect(directive(shipped, 'ProtectSystem')).toEqual(['strict']);
    expect(directive(shipped, 'ReadWritePaths')[0]!.split(' ')).toContain('/var/lib/edgehook');
    for (const key of ['PrivateTmp', 'NoNewPrivileges', 'ProtectHome', 'PrivateDevices'])
      expect(directive(shipped, key)).toEqual(['yes']);
    expect(directive(shipped, 'CapabilityBoundingSet')).toEqual(['']);
    // V8 needs W+X memory: this option would kill node at start.
    expect(directive(shipped, 'MemoryDenyWriteExecute')).toEqual([]);
  });

  // Needs /usr/bin/systemd-analyze; skipped only outside CI on a machine without systemd.
  it.skipIf(!haveAnalyze)(
    skipNote(
      'what `edgehook service print` renders for this machine passes systemd-analyze verify',
      !haveAnalyze,
      '/usr/bin/systemd-analyze',
    ),
    async () => {
      const r = await cli(['service', 'print', '--user', 'root']);
      expect(r.code).toBe(0);
      // The unit runs node itself, so it carries the launcher's #! flags (the heap settings).
      expect(launcherNodeFlags()).toContain('--max-semi-space-size=2');
      expect(directive(r.stdout, 'ExecStart')[0]).toBe(
        `${process.execPath} ${launcherNodeFlags().join(' ')} ${BIN} run --config /etc/edgehook/edgehook.yaml --data-dir /var/lib/edgehook`,
      );
      const file = join(dir(), 'edgehook.service');
      writeFileSync(file, r.stdout);
      const verify = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile('systemd-analyze', ['verify', '--man=no', file], (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, out: stdout + stderr }),
        ),
      );
      expect(verify.out).toBe('');
      expect(verify.code).toBe(0);
    },
  );

  it('`service install --dry-run` lists every step and the unit, and changes nothing', async () => {
    const unitDir = dir();
    const r = await cli([
      'service',
      'install',
      '--dry-run',
      '--unit-dir',
      unitDir,
      '--config',
      join(unitDir, 'etc/edgehook.yaml'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would (run: useradd .*edgehook|keep the existing user edgehook)/);
    expect(r.stdout).toContain(`would write ${join(unitDir, 'edgehook.service')}`);
    expect(r.stdout).toContain('would run: systemctl enable --now edgehook.service');
    expect(r.stdout).toContain('Type=notify');
    expect(existsSync(join(unitDir, 'edgehook.service'))).toBe(false);
    expect(existsSync(join(unitDir, 'etc'))).toBe(false);
  });

  it('`service` without an action, or with a bad user name, is a usage error', async () => {
    expect((await cli(['service'])).code).toBe(2);
    expect((await cli(['service', 'install', '--user', 'x;rm'])).code).toBe(2);
  });
});

// Needs systemd-notify; skipped only outside CI on a machine without systemd (haveSystemdNotify).
describe.skipIf(!haveSystemdNotify())(
  skipNote('edgehook run under systemd (a fake notification socket)', !haveSystemdNotify(), 'systemd-notify'),
  () => {
    it('sends READY=1 once it serves, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM', async () => {
      const d = dir();
      const socket = await new FakeNotifySocket(d).start();
      cleanup.push(() => socket.stop());
      const config = join(d, 'edgehook.yaml');
      writeFileSync(
        config,
        `mqtt: { url: embedded, embedded: { port: ${await freePort()} } }\nadmin: { port: 0 }\n`,
      );
      const proc = spawn(process.execPath, [BIN, 'run', '--config', config, '--data-dir', join(d, 'data')], {
        env: { ...ENV, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '1000000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout.on('data', (c) => (out += c));
      proc.stderr.on('data', (c) => (out += c));
      cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));

      await waitFor(() => socket.having('READY=1').length === 1, 'READY=1', 20_000);
      // Ready means ready: the admin server already answers.
      expect(out).toMatch(/Admin UI: http/);
      expect(socket.messages[0]).toMatch(/^READY=1\nSTATUS=running; admin UI http:\/\/127\.0\.0\.1:\d+$/);
      await waitFor(() => socket.having('WATCHDOG=1').length >= 2, 'two watchdog pings (every 500 ms)', 5000);

      const exited = new Promise<number | null>((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(socket.having('STOPPING=1')).toHaveLength(1);
      const stoppingAt = socket.messages.findIndex((m) => m.startsWith('STOPPING=1'));
      expect(stoppingAt).toBeGreaterThan(socket.messages.findIndex((m) => m.startsWith('READY=1')));
      // The agent removed its address record on the way out.
      expect(existsSync(join(d, 'data', 'agent.json'))).toBe(false);
    });
  },
);
