import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { ROOT, tempDir } from '../helpers/agent.js';
import { launcherNodeFlags } from '../../src/cli/launcher-flags.js';
import { freePort, waitFor } from '../helpers/net.js';
import { FakeNotifySocket, haveSystemdNotify } from '../systemd/notify-socket.js';

/**
 * docs/headless.md "Install": `npm pack` → `npm install -g <tarball>` into a temporary prefix → the
 * installed `edgehook` run from other directories: init, check, run (under a fake systemd
 * notification socket), status, demo; and no Electron anywhere in the installed tree.
 *
 * The pack uses --ignore-scripts: test/global-setup.ts has just built dist/ (the core and the
 * UI), and rebuilding it here would empty dist/ui under the UI tests running beside this file.
 * That prepack builds it for a real `npm pack` is checked on package.json instead.
 * Installing compiles better-sqlite3 from source (about 60-90 s here), once for the file.
 */

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const BASE_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !k.startsWith('EDGEHOOK_') && !k.startsWith('XDG_') && k !== 'NOTIFY_SOCKET',
  ),
);

let tmp = '';
let prefix = '';
let edgehook = '';
let tarFiles: string[] = [];
let home = '';
const procs: ChildProcess[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? tmp,
        env: opts.env ?? BASE_ENV,
        timeout: opts.timeout ?? 60_000,
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** The installed command, as a user runs it: HOME is a fresh one, so no real ~/.config leaks in. */
function user(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return sh(edgehook, args, { cwd, env: { ...BASE_ENV, HOME: home, ...env } });
}

function start(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { out: () => string; stdoutText: () => string } {
  const proc = spawn(edgehook, args, {
    cwd,
    env: { ...BASE_ENV, HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  let stdout = '';
  proc.stdout!.on('data', (c) => {
    out += c;
    stdout += c;
  });
  proc.stderr!.on('data', (c) => {
    out += c;
  });
  return Object.assign(proc, { out: () => out, stdoutText: () => stdout });
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (proc.exitCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once('exit', r));
  proc.kill(signal);
  return exited;
}

/** Every directory below `root` (symlinks not followed). */
function directories(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const p = join(root, e.name);
    out.push(p, ...directories(p));
  }
  return out;
}

beforeAll(async () => {
  tmp = tempDir('edgehook-pack-');
  prefix = join(tmp, 'prefix');
  home = join(tmp, 'home');
  mkdirSync(home);
  // Retried: another `vitest run` in this tree rebuilding dist/ at that moment makes tar see a
  // file change size ("unexpected EOF"); the content checks below catch a tarball short of files.
  let pack: Run = { code: null, stdout: '', stderr: '' };
  for (let attempt = 0; attempt < 3 && pack.code !== 0; attempt++) {
    pack = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
      cwd: ROOT,
      env: process.env,
      timeout: 120_000,
    });
  }
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarFiles = info!.files.map((f) => f.path);
  const install = await sh(
    'npm',
    ['install', '-g', join(tmp, info!.filename), '--prefix', prefix, '--no-audit', '--no-fund'],
    { env: process.env, timeout: 840_000 },
  );
  expect(install.code, install.stderr).toBe(0);
  edgehook = join(prefix, 'bin', 'edgehook');
  // ~90 s on an idle 2-core machine; several times that while other test runs share it.
}, 900_000);

afterAll(async () => {
  for (const p of procs) await stop(p, 'SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the compiled CLI, the UI and the unit file; no sources, tests or desktop code', () => {
    for (const f of [
      'bin/edgehook.js',
      'dist/cli/main.js',
      'dist/agent/create-agent.js',
      'dist/ui/index.html',
      'packaging/edgehook.service',
      // The JSON Schema of each payload format (README "Payload formats and versioning").
      'schemas/edgehook-1.schema.json',
      'schemas/cloudevents-1.0.schema.json',
      'package.json',
    ]) {
      expect(tarFiles).toContain(f);
    }
    expect(
      tarFiles.filter((f) => /^(src|test|renderer|bench)\//.test(f) || f.startsWith('dist/electron/')),
    ).toEqual([]);
  });

  it('builds before packing, and keeps Electron a devDependency', () => {
    // The core (tsc) and the admin UI (vite) are built into dist/ by `npm pack` and `npm publish`.
    const prepack = pkg.scripts.prepack ?? '';
    expect(prepack, 'package.json scripts.prepack runs the build').toMatch(/\bnpm run build\b/);
    // The build compiles the agent and bundles the UI: both must be in the tarball.
    expect(pkg.scripts.build).toMatch(/\btsc -p tsconfig\.build\.json\b/);
    expect(pkg.scripts.build).toMatch(/\bvite build\b/);
    expect(Object.keys(pkg.dependencies)).not.toContain('electron');
    expect(Object.keys(pkg.devDependencies)).toContain('electron');
  });
});

describe('npm install -g <tarball>', () => {
  it('installs the edgehook command with no Electron, and no devDependency, anywhere in the tree', async () => {
    expect(existsSync(edgehook)).toBe(true);
    const installed = join(prefix, 'lib', 'node_modules', pkg.name);
    const dirs = directories(installed);
    expect(dirs.filter((d) => /(^|\/)electron[^/]*$/.test(d))).toEqual([]);
    // @types/* may come in through dependencies (mqtt needs @types/ws); the heavy tools must not.
    for (const dev of Object.keys(pkg.devDependencies).filter((d) => !d.startsWith('@types/'))) {
      expect(existsSync(join(installed, 'node_modules', dev)), dev).toBe(false);
    }
    expect((await user(['--version'], tmp)).stdout.trim()).toBe(
      JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version,
    );
  });

  it('init, check, run, status and stop, from a directory outside the package', async () => {
    const work = join(tmp, 'work');
    mkdirSync(work);
    expect((await user(['init'], work)).code).toBe(0);
    const brokerPort = await freePort();
    // Nothing listens on the endpoint: the event waits in the outbox, as on a gateway offline.
    const text = readFileSync(join(work, 'edgehook.yaml'), 'utf8')
      .replace(/^(\s+port:) 1883\b/m, `$1 ${brokerPort}`)
      .replace(/^(\s+port:) 8787\b/m, '$1 0')
      .replace('http://127.0.0.1:9000/hooks', `http://127.0.0.1:${await freePort()}/hooks`);
    writeFileSync(join(work, 'edgehook.yaml'), text);
    const check = await user(['check'], work);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/edgehook\.yaml: valid \(1 subscription\(s\), 1 endpoint\(s\)/);

    const socket = haveSystemdNotify() ? await new FakeNotifySocket(tmp).start() : undefined;
    const agent = start(
      ['run'],
      work,
      socket ? { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '2000000' } : {},
    );
    try {
      await waitFor(
        () => /Admin UI: http/.test(agent.out()) || agent.exitCode !== null,
        'the installed agent to start',
        30_000,
      );
      expect(agent.exitCode, agent.out()).toBeNull();
      if (socket) await waitFor(() => socket.having('READY=1').length === 1, 'READY=1');

      const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`);
      await device.publishAsync('sensors/kitchen/temperature', '{"celsius":21.5}', { qos: 1 });
      await device.endAsync();

      const table = await user(['status'], work);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^broker\s+connected/m);
      expect(table.stdout).toMatch(/^outbox\s+1 pending/m);
      expect(table.stdout).toMatch(/^local\s+(healthy|backing-off)\s+1\s/m);
      const json = await user(['status', '--json'], work);
      expect(json.code).toBe(0);
      const status = JSON.parse(json.stdout) as {
        mqtt: { connected: boolean };
        outbox: { pending: number };
        endpoints: { id: string }[];
      };
      expect(status).toMatchObject({
        mqtt: { connected: true },
        outbox: { pending: 1 },
        endpoints: [{ id: 'local' }],
      });
      if (socket) await waitFor(() => socket.having('WATCHDOG=1').length >= 1, 'a watchdog ping');
    } finally {
      expect(await stop(agent, 'SIGTERM')).toBe(0);
    }
    if (socket) {
      expect(socket.having('STOPPING=1')).toHaveLength(1);
      await socket.stop();
    }
    // Piped stdout: JSON lines, for journald and log shippers.
    for (const line of agent.stdoutText().trim().split('\n'))
      expect(() => JSON.parse(line), line).not.toThrow();
    expect(existsSync(join(work, 'edgehook-data', 'edgehook.db'))).toBe(true);

    const after = await user(['status'], work);
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/edgehook status: no agent/);
  });

  it('with no config nearby, uses the XDG directories, from any working directory', async () => {
    const configHome = join(tmp, 'xdg-config');
    const dataHome = join(tmp, 'xdg-data');
    const env = { XDG_CONFIG_HOME: configHome, XDG_DATA_HOME: dataHome };
    const file = join(configHome, 'edgehook', 'edgehook.yaml');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      `agentId: xdg-gateway\nmqtt: { embedded: { port: ${await freePort()} } }\nadmin: { port: 0 }\n`,
    );
    const elsewhere = join(tmp, 'elsewhere');
    mkdirSync(elsewhere);

    const agent = start(['run'], elsewhere, env);
    try {
      await waitFor(
        () => /Admin UI: http/.test(agent.out()) || agent.exitCode !== null,
        'the agent to start',
        30_000,
      );
      expect(agent.exitCode, agent.out()).toBeNull();
      const status = await user(['status', '--json'], tmp, env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ agent: { id: 'xdg-gateway' } });
    } finally {
      expect(await stop(agent, 'SIGTERM')).toBe(0);
    }
    expect(existsSync(join(dataHome, 'edgehook', 'edgehook.db'))).toBe(true);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('runs the demo without any devDependency: a verified event, then a clean stop', async () => {
    const demo = start(['demo', '--port', '0', '--admin-port', '0'], tmp);
    try {
      await waitFor(
        () => /verified\s+#\d+ sensor\./.test(demo.out()) || demo.exitCode !== null,
        'a verified event',
        20_000,
      );
      expect(demo.exitCode, demo.out()).toBeNull();
    } finally {
      expect(await stop(demo, 'SIGINT')).toBe(0);
    }
  });

  it("renders the unit with this installation's node and edgehook paths", async () => {
    const r = await user(['service', 'print'], tmp);
    expect(r.code).toBe(0);
    const installedBin = join(prefix, 'lib', 'node_modules', pkg.name, 'bin', 'edgehook.js');
    expect(r.stdout).toContain(
      `ExecStart=${process.execPath} ${launcherNodeFlags(installedBin).join(' ')} ${installedBin} run --config /etc/edgehook/edgehook.yaml --data-dir /var/lib/edgehook`,
    );
  });
});
