import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { Webhook } from 'standardwebhooks';
import { SYSTEM_CONFIG_FILE, resolvePaths, writeRuntimeInfo } from '../../src/cli/paths.js';
import { verify } from '../../src/cli/demo-command.js';
import { createSigner, generateSecret } from '../../src/delivery/sign.js';
import { AgentProcess, ROOT, SECRET, tempDir } from '../helpers/agent.js';
import { freePort, waitFor } from '../helpers/net.js';
import { PYTHON } from '../systemd/notify-socket.js';

/** `edgehook status`, `edgehook demo`, where things live, and how run logs (README "Command line"). */

const BIN = join(ROOT, 'bin/edgehook.js');
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('EDGEHOOK_') && k !== 'NOTIFY_SOCKET'),
);

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function dir(): string {
  const d = tempDir('edgehook-sd-');
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...ENV, ...env }, timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('where the config and the data live (src/cli/paths.ts)', () => {
  const HOME = '/home/pi';
  const files =
    (...present: string[]) =>
    (p: string) =>
      present.includes(p);
  const at = (o: Parameters<typeof resolvePaths>[0]) =>
    resolvePaths({ cwd: '/work', uid: 1000, env: { HOME }, exists: files(), ...o });

  it("flag, then environment, then ./edgehook.yaml, each keeping the file's own dataDir", () => {
    expect(at({ config: 'a.yaml', env: { HOME, EDGEHOOK_CONFIG: '/b.yaml' } })).toMatchObject({
      configFile: '/work/a.yaml',
      configSource: 'flag',
      dataDirOverride: undefined,
    });
    expect(at({ env: { HOME, EDGEHOOK_CONFIG: '/b.yaml' } })).toMatchObject({
      configFile: '/b.yaml',
      configSource: 'env',
    });
    expect(
      at({ exists: files('/work/edgehook.yaml', `${HOME}/.config/edgehook/edgehook.yaml`) }),
    ).toMatchObject({ configFile: '/work/edgehook.yaml', configSource: 'cwd', dataDirOverride: undefined });
    // An empty variable is unset (Environment=EDGEHOOK_CONFIG= in a unit).
    expect(at({ env: { HOME, EDGEHOOK_CONFIG: '' } }).configSource).toBe('none');
  });

  it('a user: XDG directories, ~/.config and ~/.local/share by default', () => {
    const userFile = `${HOME}/.config/edgehook/edgehook.yaml`;
    expect(at({ exists: files(userFile) })).toMatchObject({
      mode: 'user',
      configFile: userFile,
      configSource: 'platform',
      dataDirOverride: `${HOME}/.local/share/edgehook`,
    });
    expect(
      at({
        env: { HOME, XDG_CONFIG_HOME: '/x/c', XDG_DATA_HOME: '/x/d' },
        exists: files('/x/c/edgehook/edgehook.yaml'),
      }),
    ).toMatchObject({
      configFile: '/x/c/edgehook/edgehook.yaml',
      dataDirOverride: '/x/d/edgehook',
    });
    // Relative XDG values are invalid (XDG Base Directory spec) and ignored.
    expect(at({ env: { HOME, XDG_DATA_HOME: 'rel' } }).dataDirOverride).toBe(`${HOME}/.local/share/edgehook`);
    // No file anywhere: built-in defaults, data in the platform directory, not the working one.
    expect(at({})).toMatchObject({
      configFile: undefined,
      configSource: 'none',
      dataDirOverride: `${HOME}/.local/share/edgehook`,
    });
  });

  it('the system layout with --system, or as root when /etc/edgehook/edgehook.yaml exists', () => {
    expect(at({ system: true, exists: files(SYSTEM_CONFIG_FILE) })).toMatchObject({
      mode: 'system',
      configFile: SYSTEM_CONFIG_FILE,
      dataDirOverride: '/var/lib/edgehook',
    });
    expect(at({ uid: 0, exists: files(SYSTEM_CONFIG_FILE) }).mode).toBe('system');
    expect(at({ uid: 0 }).mode).toBe('user');
    expect(at({ uid: 1000, exists: files(SYSTEM_CONFIG_FILE) }).mode).toBe('user');
  });

  it('--data-dir, then EDGEHOOK_DATA_DIR, win; a file the admin UI saved in the data directory is found', () => {
    expect(at({ dataDir: 'd', env: { HOME, EDGEHOOK_DATA_DIR: '/e' } }).dataDirOverride).toBe('/work/d');
    expect(at({ env: { HOME, EDGEHOOK_DATA_DIR: '/e' }, exists: files('/e/edgehook.yaml') })).toMatchObject({
      configFile: '/e/edgehook.yaml',
      configSource: 'data-dir',
      dataDirOverride: '/e',
    });
  });

  it('a platform file that sets dataDir keeps it', () => {
    const d = dir();
    const file = join(d, 'edgehook', 'edgehook.yaml');
    mkdirSync(join(d, 'edgehook'));
    writeFileSync(file, 'dataDir: /srv/edgehook\n');
    expect(resolvePaths({ cwd: '/work', uid: 1000, env: { HOME, XDG_CONFIG_HOME: d } })).toMatchObject({
      configFile: file,
      dataDirOverride: undefined,
    });
  });
});

describe('edgehook status', () => {
  async function agent(endpointUrl: string): Promise<AgentProcess> {
    const port = await freePort();
    const a = new AgentProcess(
      dir(),
      `agentId: status-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: ${port} } }
subscriptions: [ { topic: 'd/#', qos: 1 } ]
endpoints: [ { id: cloud, url: '${endpointUrl}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
    );
    cleanup.push(() => a.kill());
    await a.start();
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    await device.publishAsync('d/x', '{"n":1}', { qos: 1 });
    await device.endAsync();
    return a;
  }

  it("prints a table, or the API's JSON, for an agent on a port chosen at start (admin.port 0)", async () => {
    // Nothing listens there: the event waits, the endpoint backs off.
    const a = await agent(`http://127.0.0.1:${await freePort()}/hooks`);
    const args = ['status', '--config', a.configFile, '--data-dir', a.dataDir];
    await waitFor(
      async () => (await a.status()).endpoints[0]!.state === 'backing-off',
      'the endpoint to back off',
    );

    const table = await cli(args);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout).toMatch(/^agent\s+status-test\s+edgehook \d+\.\d+\.\d+/m);
    expect(table.stdout).toMatch(/^broker\s+connected\s+mqtt:\/\/127\.0\.0\.1:\d+ \(embedded\)/m);
    expect(table.stdout).toMatch(/^outbox\s+1 pending \(oldest undelivered \d+s old\)/m);
    expect(table.stdout).toMatch(/dropped 0/);
    expect(table.stdout).toMatch(/^ENDPOINT\s+STATE\s+PENDING/m);
    expect(table.stdout).toMatch(/^cloud\s+backing-off\s+1\s+0\s+-\s+\S/m);

    const json = await cli([...args, '--json']);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as {
      mqtt: { connected: boolean };
      outbox: { pending: number; dropped: number };
      endpoints: { id: string; pending: number }[];
    };
    expect(status.mqtt.connected).toBe(true);
    expect(status.outbox).toMatchObject({ pending: 1, dropped: 0 });
    expect(status.endpoints).toMatchObject([{ id: 'cloud', pending: 1 }]);
  });

  it('exits 3 with a clear message when no agent answers, and ignores the record a crashed agent left', async () => {
    const d = dir();
    const config = join(d, 'edgehook.yaml');
    writeFileSync(config, `admin: { port: ${await freePort()}, token: 0123456789abcdef0123 }\n`);
    const r = await cli(['status', '--config', config]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^edgehook status: no agent answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\?/,
    );
    expect(r.stdout).toBe('');

    // admin.port 0, and the agent.json of a process that is gone.
    writeFileSync(config, 'admin: { port: 0 }\n');
    mkdirSync(join(d, 'edgehook-data'));
    writeRuntimeInfo(join(d, 'edgehook-data'), {
      pid: 2 ** 22 + 1,
      adminUrl: 'http://127.0.0.1:9',
      startedAt: 0,
    });
    const stale = await cli(['status', '--config', config]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(`no agent is running with data directory ${join(d, 'edgehook-data')}`);
  });

  it('exits 1 when the agent refuses the token, and 2 on a broken config', async () => {
    const a = await agent('http://127.0.0.1:9/hooks');
    writeFileSync(join(a.dataDir, 'admin-token'), 'not-the-token-of-this-agent\n');
    const r = await cli(['status', '--config', a.configFile, '--data-dir', a.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the admin token from .*admin-token \(HTTP 401\)/);

    const bad = join(dir(), 'bad.yaml');
    writeFileSync(bad, 'admin: { prot: 1 }\n');
    const b = await cli(['status', '--config', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/admin\.prot/);
  });
});

describe('edgehook demo', () => {
  it("verifies the receiver's signature check against the standardwebhooks package", () => {
    const { secret } = generateSecret('hmac');
    const signer = createSigner([secret]);
    const body = Buffer.from('{"id":"evt_1","seq":1}');
    const now = Math.floor(Date.now() / 1000);
    const signed = new Webhook(secret).sign('evt_1', new Date(now * 1000), body.toString());
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(now), 'webhook-signature': signed };
    expect(verify(signer, headers, body, now)).toBeUndefined();
    // While rotating, one of several entries matches.
    expect(
      verify(signer, { ...headers, 'webhook-signature': `v1,AAAA ${signed}` }, body, now),
    ).toBeUndefined();
    expect(verify(signer, headers, Buffer.from('{"id":"evt_1","seq":2}'), now)).toMatch(
      /no signature matches/,
    );
    expect(verify(signer, headers, body, now + 301)).toMatch(/not within 5 minutes/);
    expect(verify(createSigner([SECRET]), headers, body, now)).toMatch(/no signature matches/);
    expect(verify(signer, { 'webhook-id': 'evt_1' }, body, now)).toMatch(/missing/);
  });

  it('receives and verifies a simulated event within 10 s, prints the UI link, stops on SIGINT and cleans up', async () => {
    const proc = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--admin-port', '0'], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.stderr.on('data', (c) => (out += c));
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));

    const started = Date.now();
    await waitFor(
      () => /verified\s+#\d+ sensor\.\w+\.\w+ \{/.test(out) || proc.exitCode !== null,
      'a verified event',
      20_000,
    );
    expect(proc.exitCode, out).toBeNull();
    // Start-up (loading the CLI, SQLite, the broker) plus the first reading, on a slow machine.
    expect(Date.now() - started).toBeLessThan(10_000 + 5000);
    expect(out).not.toMatch(/REJECTED/);

    const login = /admin UI\s+(http:\/\/127\.0\.0\.1:\d+)\/login\?token=(\S+)/.exec(out);
    expect(login, out).not.toBeNull();
    const res = await fetch(`${login![1]}/api/status`, {
      headers: { authorization: `Bearer ${decodeURIComponent(login![2]!)}` },
    });
    expect(((await res.json()) as { endpoints: { id: string }[] }).endpoints.map((e) => e.id)).toEqual([
      'demo-receiver',
    ]);
    const dataDir = /data\s+(\S+)\s+\(temporary/.exec(out)![1]!;
    expect(existsSync(join(dataDir, 'edgehook.db'))).toBe(true);

    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/demo stopped/);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('edgehook demo --sparkplug', () => {
  it('adds a Sparkplug B edge node whose DDATA arrive decoded with names, its node online in the status', async () => {
    const proc = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--admin-port', '0', '--sparkplug'], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.stderr.on('data', (c) => (out += c));
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));

    // The DDATA names its metrics by alias only: the names come from the DBIRTH the agent learnt.
    await waitFor(
      () =>
        /verified\s+#\d+ sparkplug\.demo\.DDATA\.line-1\.press-1 \{.*"name":"Temperature"/.test(out) ||
        proc.exitCode !== null,
      'a verified, decoded DDATA',
      30_000,
    );
    expect(proc.exitCode, out).toBeNull();
    expect(out).not.toMatch(/REJECTED|"unresolved":true/);
    // The JSON sensors still report beside it.
    await waitFor(() => /verified\s+#\d+ sensor\.\w+\.\w+ \{/.test(out), 'a JSON sensor event', 20_000);

    const login = /admin UI\s+(http:\/\/127\.0\.0\.1:\d+)\/login\?token=(\S+)/.exec(out);
    const res = await fetch(`${login![1]}/api/status`, {
      headers: { authorization: `Bearer ${decodeURIComponent(login![2]!)}` },
    });
    const status = (await res.json()) as { sparkplug?: { nodes: unknown[] } };
    expect(status.sparkplug?.nodes).toEqual([
      {
        group: 'demo',
        node: 'line-1',
        online: true,
        birthAt: expect.any(Number),
        devices: [{ device: 'press-1', online: true, birthAt: expect.any(Number) }],
      },
    ]);

    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/demo stopped/);
  }, 60_000);
});

describe('edgehook run logs', () => {
  async function runUntilStarted(useTty: boolean): Promise<string> {
    const d = dir();
    const config = join(d, 'edgehook.yaml');
    writeFileSync(
      config,
      `endpoints: [ { url: 'http://127.0.0.1:9/x', secret: ${SECRET} } ]\nmqtt: { embedded: { port: ${await freePort()} } }\nadmin: { port: 0 }\n`,
    );
    const argv = [process.execPath, BIN, 'run', '--config', config, '--data-dir', join(d, 'data')];
    // Under a pseudo-terminal (python's pty), as a person at a console sees it; SIGINT once started.
    const script = `
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, sent, end = b"", False, time.time() + 25
while time.time() < end:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not sent and b"Admin UI" in out:
        os.kill(pid, signal.SIGINT)
        sent = True
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
`;
    const [cmd, args] = useTty ? [PYTHON, ['-c', script, ...argv]] : [argv[0]!, argv.slice(1)];
    const proc = spawn(cmd, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    if (!useTty) {
      await waitFor(() => /Admin UI/.test(stderr), 'the agent to start', 20_000);
      proc.kill('SIGINT');
    }
    await new Promise((r) => proc.once('exit', r));
    return stdout;
  }

  it('writes JSON lines when stdout is not a terminal, secrets redacted', async () => {
    const stdout = await runUntilStarted(false);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('stopped cleanly');
    expect(stdout).not.toContain(SECRET.slice(6));
  });

  it('writes readable lines on a terminal', async () => {
    const stdout = await runUntilStarted(true);
    expect(stdout).toMatch(/\d\d:\d\d:\d\d\.\d{3}\]? .*INFO.*edgehook started/);
    expect(stdout).toMatch(/stopped cleanly/);
    expect(stdout).not.toMatch(/\{"level":/);
  });
});
