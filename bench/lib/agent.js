// Starts edgehook the way a user does (`edgehook run --config FILE`: node with the flags of
// bin/edgehook.js's #! line) and talks to its admin API.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { stopProcess, spawnTracked } from './procs.js';
import { fatal, waitFor } from './util.js';

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/**
 * @param {{ root: string, tmp: string, name: string, brokerUrl: string, topicFilter: string,
 *   hookUrl: string, ordering: 'strict' | 'parallel', maxInFlight?: number,
 *   batch?: { maxEvents: number, maxWaitMs: number }, profileDir?: string, nodeFlags?: string[],
 *   subscription?: string }} o   subscription: the subscriptions entry in YAML flow style (default: a plain one)
 */
export async function startAgent(o) {
  const dir = join(o.tmp, o.name);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const agentId = `bench-${o.name}`;
  const endpoint = [
    `id: r`,
    `url: '${o.hookUrl}'`,
    `secret: ${SECRET}`,
    `ordering: ${o.ordering}`,
    ...(o.ordering === 'parallel' ? [`maxInFlight: ${o.maxInFlight ?? 64}`] : []),
    ...(o.batch ? [`batch: { maxEvents: ${o.batch.maxEvents}, maxWaitMs: ${o.batch.maxWaitMs} }`] : []),
  ];
  const yaml = [
    `agentId: ${agentId}`,
    `dataDir: '${dataDir}'`,
    'logLevel: warn',
    `mqtt: { url: '${o.brokerUrl}' }`,
    `subscriptions: [ ${o.subscription ?? `{ topic: '${o.topicFilter}', qos: 1, type: 'bench.{1}', payload: json }`} ]`,
    'endpoints:',
    `  - { ${endpoint.join(', ')} }`,
    'storage: { maxBytes: 2GiB }',
    'admin: { port: 0 }',
    '',
  ].join('\n');
  const configFile = join(dir, 'edgehook.yaml');
  writeFileSync(configFile, yaml);
  const nodeArgs = [
    // `edgehook run` executes bin/edgehook.js through its #! line: the V8 flags named there
    // are part of how a user starts it.
    ...(await import(pathToFileURL(join(o.root, 'dist/cli/launcher-flags.js')).href)).launcherNodeFlags(
      join(o.root, 'bin/edgehook.js'),
    ),
    ...(o.nodeFlags ?? []),
    ...(o.profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, `--cpu-prof-name=edgehook-${o.name}.cpuprofile`]
      : []),
  ];
  const child = spawnTracked(
    process.execPath,
    [...nodeArgs, 'bin/edgehook.js', 'run', '--config', configFile],
    {
      cwd: o.root,
      logFile: join(dir, 'agent.log'),
    },
  );
  let exit;
  child.once('exit', (code, signal) => (exit = { code, signal }));
  const stderr = () => /** @type {any} */ (child).stderrText;
  let login;
  try {
    login = await waitFor(
      'edgehook to print its admin URL',
      () => {
        // Its output is a pipe, not a terminal: it prints the address, and the token stays in its file.
        const m = /Admin UI: (http:\/\/[^/\s]+)\//.exec(stderr());
        if (m) return { adminUrl: m[1], token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() };
        if (exit)
          throw fatal(
            `edgehook exited (${exit.code ?? exit.signal}) at start: ${stderr().trim().slice(-2000)}`,
          );
        return undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  } catch (err) {
    await stopProcess(child, 3000);
    return {
      rejected: true,
      exitCode: exit?.code ?? null,
      message: err.message,
      stderr: stderr(),
      configFile,
    };
  }
  let token = login.token;
  try {
    token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() || token;
  } catch {
    /* the login URL carries it too */
  }
  const agent = {
    rejected: false,
    child,
    pid: child.pid,
    dataDir,
    configFile,
    agentId,
    clientId: `edgehook-${agentId}`,
    adminUrl: login.adminUrl,
    stderr,
    /** GET /api/status */
    async status() {
      const res = await fetch(`${login.adminUrl}/api/status`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`GET /api/status: HTTP ${res.status}`);
      return res.json();
    },
    /** SIGTERM (a clean stop, which also writes a --cpu-prof profile), SIGKILL after 15 s. */
    async stop() {
      await stopProcess(child, 15_000);
      return exit;
    },
  };
  await waitFor(
    'edgehook to connect to the broker',
    async () => (await agent.status()).mqtt?.connected === true,
    {
      timeoutMs: 20_000,
      intervalMs: 100,
    },
  );
  return agent;
}

/** Ends the persistent session an agent leaves at the broker, so it queues nothing more. */
export async function dropSession(brokerUrl, clientId) {
  const client = mqtt.connect(brokerUrl, {
    clientId,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    await new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      setTimeout(() => reject(new Error('timeout')), 5000).unref();
    });
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}
