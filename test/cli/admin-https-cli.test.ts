import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { RUNTIME_FILE } from '../../src/cli/paths.js';
import { AgentProcess, ROOT, tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';

/**
 * `edgehook run` with the admin UI on a LAN address, as systemd runs it (stdout a pipe) and as a
 * person runs it in a terminal; `edgehook status` against it over HTTPS.
 */

const BIN = join(ROOT, 'bin/edgehook.js');
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('EDGEHOOK_') && k !== 'NOTIFY_SOCKET'),
);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LAN_YAML = `
agentId: lan-cli
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
admin: { host: 0.0.0.0, port: 0 }
`;

function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.end();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: ENV, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('edgehook run with the admin UI on the LAN', () => {
  it('not on a terminal: no token in the output, the token file named, the fingerprint printed; status works over HTTPS', async () => {
    const proc = new AgentProcess(tempDir('edgehook-lan-'), LAN_YAML);
    cleanups.push(() => proc.cleanup());
    await proc.start();
    await waitFor(() => /"tokenFile"/.test(proc.output), 'the admin log line');
    const token = readFileSync(join(proc.dataDir, 'admin-token'), 'utf8').trim();
    expect(proc.output).not.toContain(token);
    expect(proc.output).not.toContain('login?token=');
    expect(proc.output).toContain(`sign in with the token in ${join(proc.dataDir, 'admin-token')}`);

    const printed = /Certificate SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(
      proc.output,
    )?.[1];
    expect(printed).toBeDefined();
    const url = proc.adminUrl;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await servedFingerprint(Number(new URL(url).port))).toBe(printed);
    // The log line for journald carries the same fingerprint.
    const logged = proc.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { tokenFile?: string; fingerprint256?: string })
      .find((l) => l.tokenFile);
    expect(logged).toMatchObject({ fingerprint256: printed, tokenFile: join(proc.dataDir, 'admin-token') });

    const status = await cli(['status', '--config', proc.configFile, '--data-dir', proc.dataDir]);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(url);
    expect(status.stdout).toMatch(/^agent\s+lan-cli/);

    // A certificate other than the recorded one is refused before the token is sent.
    const runtime = join(proc.dataDir, RUNTIME_FILE);
    const info = JSON.parse(readFileSync(runtime, 'utf8')) as { fingerprint256: string };
    writeFileSync(runtime, JSON.stringify({ ...info, fingerprint256: `00:${info.fingerprint256.slice(3)}` }));
    const pinned = await cli(['status', '--config', proc.configFile, '--data-dir', proc.dataDir]);
    expect(pinned.code).toBe(1);
    expect(pinned.stderr).toMatch(/certificate .* is not the expected one/);
  });

  it('on a terminal: prints the login link with the fingerprint', async () => {
    const dir = tempDir('edgehook-lan-tty-');
    const configFile = join(dir, 'edgehook.yaml');
    writeFileSync(configFile, LAN_YAML);
    // script(1) gives the agent a pseudo-terminal as stdout, as an interactive shell does.
    const command = `${process.execPath} ${BIN} run --config ${configFile} --data-dir ${join(dir, 'data')}`;
    const proc = spawn('script', ['-qfec', command, '/dev/null'], {
      env: ENV,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    cleanups.push(async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        process.kill(-proc.pid!, 'SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });
    const link = await waitFor(
      () =>
        /Admin UI: (https:\/\/\S+\/login\?token=\S+)/.exec(out)?.[1] ??
        (proc.exitCode !== null ? `exit: ${out}` : ''),
      'the login link',
      20_000,
    );
    const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
    expect(link).toContain(`token=${encodeURIComponent(token)}`);
    expect(out).toMatch(/Certificate SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  });
});
