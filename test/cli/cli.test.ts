import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { AgentProcess, ROOT, SECRET, tempDir } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { freePort, waitFor } from '../helpers/net.js';

/** `edgehook …` as a user runs it (README "Command line"): the built bin, a real process, exit codes. */

const BIN = join(ROOT, 'bin/edgehook.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
// The user's EDGEHOOK_* variables must not leak into what the tests check.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EDGEHOOK_')));

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function dir(): string {
  const d = tempDir('edgehook-cli-');
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: ENV, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : null
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('edgehook check', () => {
  it('exits 0 on a valid file', async () => {
    const file = join(dir(), 'ok.yaml');
    writeFileSync(
      file,
      `endpoints: [ { id: cloud, url: 'https://example.com/hooks', secret: ${SECRET} } ]\n`,
    );
    const r = await cli(['check', '--config', file]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`${file}: valid`);
  });

  it('exits 2 listing every problem by path', async () => {
    const file = join(dir(), 'bad.yaml');
    writeFileSync(
      file,
      ['agentIdd: gw', 'endpoints:', '  - url: not-a-url', 'storage: { whenFull: sometimes }', ''].join('\n'),
    );
    const r = await cli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/agentIdd/);
    expect(r.stderr).toMatch(/endpoints\[0\]\.url/);
    expect(r.stderr).toMatch(/storage\.whenFull/);
    noStack(r.stderr);
  });

  it('exits 2 on an unknown payload format, naming the key and the formats there are', async () => {
    const file = join(dir(), 'format.yaml');
    writeFileSync(
      file,
      `endpoints: [ { id: cloud, url: 'https://example.com/hooks', format: cloudevents/2.0 } ]\n`,
    );
    const r = await cli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'endpoints[0].format: expected one of "edgehook/1", "cloudevents/1.0", got "cloudevents/2.0"',
    );
    noStack(r.stderr);
  });

  it('exits 2 naming a file that does not exist', async () => {
    const file = join(dir(), 'missing.yaml');
    const r = await cli(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    noStack(r.stderr);
  });

  it('exits 2 without --config, or with an option it does not know', async () => {
    expect((await cli(['check'])).code).toBe(2);
    const r = await cli(['check', '--confg', 'x.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/confg/);
  });
});

describe('edgehook init', () => {
  it('writes a private starter config that check accepts, and refuses to overwrite it', async () => {
    const d = dir();
    const file = join(d, 'x.yaml');
    const r = await cli(['init', '--config', file]);
    expect(r.code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# /);
    // It holds a signing secret: readable by its owner only.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await cli(['check', '--config', file])).toMatchObject({ code: 0 });

    const again = await cli(['init', '--config', file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(file);
    expect(again.stderr).toMatch(/exists/);
    expect(readFileSync(file, 'utf8')).toBe(text);

    // Each starter gets its own secret, never one printed in the source.
    await cli(['init', '--config', join(d, 'y.yaml')]);
    const secretOf = (t: string) => /whsec_[A-Za-z0-9+/=]+/.exec(t)?.[0];
    expect(secretOf(readFileSync(join(d, 'y.yaml'), 'utf8'))).not.toBe(secretOf(text));
  });

  it('writes edgehook.yaml in the working directory by default', async () => {
    const d = dir();
    expect((await cli(['init'], d)).code).toBe(0);
    expect((await cli(['check', '--config', 'edgehook.yaml'], d)).code).toBe(0);
  });
});

describe('edgehook (usage)', () => {
  it('--version prints the package version', async () => {
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('exits 2 on an unknown command, or none', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect(r.stderr).toMatch(/usage/);
    expect((await cli([])).code).toBe(2);
  });
});

describe('edgehook run', () => {
  async function runRig(): Promise<{ agent: AgentProcess; receiver: Receiver; brokerUrl: string }> {
    const receiver = await new Receiver([SECRET]).start();
    cleanup.push(() => receiver.stop());
    const port = await freePort();
    const agent = new AgentProcess(
      dir(),
      `agentId: cli-run
logLevel: info
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: ${port} } }
subscriptions: [ { topic: 'd/#', qos: 1 } ]
endpoints: [ { id: r, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
    );
    cleanup.push(async () => void (await agent.kill()));
    await agent.start();
    return { agent, receiver, brokerUrl: `mqtt://127.0.0.1:${port}` };
  }

  it('prints where the admin UI and its token are, and on SIGTERM stops cleanly with exit 0, SQLite closed', async () => {
    const { agent, receiver, brokerUrl } = await runRig();
    // stdout is a pipe here, not a terminal: the token file is named, the token never printed.
    expect(agent.output).toMatch(
      /Admin UI: http:\/\/127\.0\.0\.1:\d+\/ \(sign in with the token in \S+admin-token\)/,
    );
    expect(agent.output).not.toContain(readFileSync(join(agent.dataDir, 'admin-token'), 'utf8').trim());
    const device = await mqtt.connectAsync(brokerUrl);
    await device.publishAsync('d/x', '{"n":1}', { qos: 1 });
    await device.endAsync();
    await waitFor(() => receiver.delivered.length === 1, 'the event to be delivered');

    const started = Date.now();
    const code = await agent.signal('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(agent.output).toMatch(/stopped cleanly/);
    // The last connection closed checkpoints and removes the WAL: the database was closed.
    expect(existsSync(join(agent.dataDir, 'edgehook.db'))).toBe(true);
    expect(existsSync(join(agent.dataDir, 'edgehook.db-wal'))).toBe(false);
  });

  it('a second SIGTERM while stopping forces the exit', async () => {
    const { agent, receiver, brokerUrl } = await runRig();
    // The receiver never answers in time: stopping waits for the request in flight.
    receiver.respond = () => ({ status: 200, delayMs: 30_000 });
    const device = await mqtt.connectAsync(brokerUrl);
    await device.publishAsync('d/x', '{"n":1}', { qos: 1 });
    await device.endAsync();
    await waitFor(() => receiver.requests.length >= 1, 'a request in flight');

    const proc = agent.proc!;
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    proc.kill('SIGTERM');
    await waitFor(() => /send the signal again/.test(agent.output), 'the agent to start stopping');
    const started = Date.now();
    proc.kill('SIGTERM');
    expect(await exited).toBe(130);
    // Well before the in-flight grace period would have let it stop on its own.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses to start on an invalid config: exit 2, every problem by path', async () => {
    const d = dir();
    const config = join(d, 'edgehook.yaml');
    writeFileSync(config, `endpoints: [ { url: 'ftp://x' } ]\nadmin: { port: 'eighty' }\n`);
    const r = await cli(['run', '--config', config, '--data-dir', join(d, 'data')], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/endpoints\[0\]\.url/);
    expect(r.stderr).toMatch(/admin\.port/);
    // Nothing was started or created.
    expect(existsSync(join(d, 'data'))).toBe(false);
  });

  it('exits non-zero with one clear line when the data directory cannot be created', async () => {
    const d = dir();
    writeFileSync(join(d, 'afile'), 'not a directory');
    const config = join(d, 'edgehook.yaml');
    writeFileSync(config, `mqtt: { url: embedded, embedded: { port: 0 } }\nadmin: { port: 0 }\n`);
    const dataDir = join(d, 'afile', 'data');
    const r = await cli(['run', '--config', config, '--data-dir', dataDir], d);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(dataDir);
    expect(lines[0]).toMatch(/data directory/);
    noStack(r.stderr + r.stdout);
  });
});
