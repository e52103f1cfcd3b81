import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfigText } from '../../src/config/load.js';
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/create-agent.js';
import { silentLogger } from '../../src/log.js';
import type { AgentStatus } from '../../src/agent/agent-status.js';
import { waitFor } from './net.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export function tempDir(prefix = 'edgehook-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Publishes `payload` on `topic` (QoS 1) until the agent in this process has stored a message:
 * its subscription is then in place at the broker.
 */
export async function publishUntilStored(
  device: { publishAsync(topic: string, payload: string, opts: { qos: 1 }): Promise<unknown> },
  agent: { status(): AgentStatus },
  topic: string,
  payload: string,
  what = 'the agent to subscribe',
): Promise<void> {
  await waitFor(
    async () => {
      await device.publishAsync(topic, payload, { qos: 1 });
      return agent.status().outbox.received > 0;
    },
    what,
    20_000,
    200,
  );
}

/** An agent in this process, from YAML text, with a silent logger unless one is given. */
export async function startAgent(
  yaml: string,
  options: Omit<AgentOptions, 'config'> & { dataDir?: string } = {},
): Promise<Agent> {
  const dataDir = options.dataDir ?? tempDir();
  const config = parseConfigText(yaml, { source: 'test.yaml', env: {}, dataDirOverride: dataDir });
  const agent = createAgent({ logger: silentLogger(), ...options, config });
  await agent.start();
  return agent;
}

/** An agent started as a user starts it: `node bin/edgehook.js run --config FILE`. */
export class AgentProcess {
  proc: ChildProcess | undefined;
  output = '';
  readonly configFile: string;
  /** Added to the child's environment at each start (e.g. an LD_PRELOAD fault injector). */
  env: Record<string, string> = {};

  constructor(
    readonly dir: string,
    yaml: string,
  ) {
    this.configFile = join(dir, 'edgehook.yaml');
    writeFileSync(this.configFile, yaml);
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  async start(): Promise<void> {
    this.output = '';
    const proc = spawn(
      process.execPath,
      [join(ROOT, 'bin/edgehook.js'), 'run', '--config', this.configFile, '--data-dir', this.dataDir],
      {
        cwd: this.dir,
        env: { ...process.env, ...this.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.output += d));
    proc.stderr!.on('data', (d) => (this.output += d));
    await waitFor(
      () => /Admin UI: (\S+)/.test(this.output) || proc.exitCode !== null,
      'the agent to start',
      20_000,
    );
    if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}: ${this.output}`);
  }

  get adminUrl(): string {
    const m = /Admin UI: (https?:\/\/[^/]+)\//.exec(this.output);
    if (!m) throw new Error('no admin URL printed');
    return m[1]!;
  }

  async status(): Promise<AgentStatus> {
    const token = readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
    const res = await fetch(`${this.adminUrl}/api/status`, { headers: { authorization: `Bearer ${token}` } });
    return (await res.json()) as AgentStatus;
  }

  async signal(sig: NodeJS.Signals): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill(sig);
    return exited;
  }

  kill(): Promise<number | null> {
    return this.signal('SIGKILL');
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
