import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type {
  CreatedEndpoint,
  SaveResult,
  SettingsView,
  SubscriptionView,
} from '../../src/admin/api-types.js';
import { loadConfigFile } from '../../src/config/load.js';
import { ROOT, SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';
import { apiClient, startAgentWithFile } from './helpers.js';

let agent: Agent | undefined;
let receiver: Receiver | undefined;
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await agent?.stop();
  await receiver?.stop();
  agent = undefined;
  receiver = undefined;
  for (const c of cleanups.splice(0)) await c();
});

const commented = (url: string) => `# Edgehook on the north gateway. Owner: ops@example.com
agentId: north-01   # do not rename: the cloud keys on it

mqtt:
  url: embedded
  embedded: { host: 127.0.0.1, port: 0 }

# Only the sensors we bill for.
subscriptions:
  # kitchen thermometers
  - topic: sensors/+/temperature  # the Zigbee bridge
    type: sensor.{1}.temperature

endpoints:
  - id: cloud
    url: '${url}'
    secret: ${SECRET}   # rotate yearly

storage:
  keepDeliveredHours: 24  # audit wants a day

admin: { port: 0 }
`;

function withoutConfigEnv(): NodeJS.ProcessEnv {
  const { EDGEHOOK_CONFIG: _ignored, ...env } = process.env;
  return env;
}

describe('admin API: config edits written back and applied live', () => {
  it('adds and edits a subscription: the file keeps its comments, the new topic is delivered without a restart', async () => {
    receiver = await new Receiver([SECRET]).start();
    const started = await startAgentWithFile(commented(receiver.url));
    agent = started.agent;
    const api = apiClient(agent);

    const added = await api.post<SubscriptionView>('/api/subscriptions', {
      topic: 'sensors/+/humidity',
      qos: 1,
      type: 'sensor.{1}.humidity',
    });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      index: 1,
      topic: 'sensors/+/humidity',
      qos: 1,
      type: 'sensor.{1}.humidity',
      payload: 'json',
    });
    const edited = await api.put<SubscriptionView>('/api/subscriptions/0', {
      topic: 'sensors/+/temperature',
      qos: 2,
      type: 'sensor.{1}.temperature',
    });
    expect(edited.status).toBe(200);
    expect(edited.body.qos).toBe(2);

    const file = readFileSync(started.file, 'utf8');
    for (const comment of [
      '# Edgehook on the north gateway. Owner: ops@example.com',
      '# do not rename: the cloud keys on it',
      '# Only the sensors we bill for.',
      '# kitchen thermometers',
      '# the Zigbee bridge',
      '# rotate yearly',
      '# audit wants a day',
    ]) {
      expect(file).toContain(comment);
    }
    expect(file).toContain('sensors/+/humidity');
    expect(file).toMatch(/qos: 2/);
    // What is on disk is what runs: loading the file again gives the same subscriptions.
    const reloaded = loadConfigFile(started.file, { env: {} });
    expect(reloaded.subscriptions).toEqual(agent.config.subscriptions);
    expect(statSync(started.file).isFile()).toBe(true);
    expect(existsSync(join(started.dir, '.edgehook.yaml.tmp'))).toBe(false);

    // Live: a message on the new topic is delivered. The broker grants the new subscription a
    // moment after the answer, so publish until one arrives.
    const device = await mqtt.connectAsync(agent.broker!.url);
    cleanups.push(() => device.endAsync());
    let n = 0;
    await waitFor(
      async () => {
        await device.publishAsync('sensors/attic/humidity', JSON.stringify({ rh: 40, n: n++ }), { qos: 1 });
        return receiver!.delivered.some((r) => r.json.type === 'sensor.attic.humidity');
      },
      'an event on the new topic',
      10_000,
      100,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; status ${JSON.stringify(agent!.status())}; received ${JSON.stringify(receiver!.requests.map((r) => [r.json.type, (r as unknown as { status: number }).status]))}`,
      );
    });
    expect(agent.status().mqtt.connected).toBe(true);

    const problems = await api.post<{ fields: Record<string, string> }>('/api/subscriptions', {
      topic: 'a/#/b',
      qos: 3,
      payload: 'xml',
    });
    expect(problems.status).toBe(400);
    expect(Object.keys(problems.body.fields).sort()).toEqual(['payload', 'qos', 'topic']);
    expect((await api.put('/api/subscriptions/7', { topic: 'x' })).status).toBe(404);

    expect((await api.del('/api/subscriptions/1')).status).toBe(204);
    expect((await api.get<SubscriptionView[]>('/api/subscriptions')).body.map((s) => s.topic)).toEqual([
      'sensors/+/temperature',
    ]);
    expect(readFileSync(started.file, 'utf8')).not.toContain('humidity');
    expect(readFileSync(started.file, 'utf8')).toContain('# kitchen thermometers');
  });

  it("keeps a Sparkplug subscription's options through edits of the list", async () => {
    receiver = await new Receiver([SECRET]).start();
    const started = await startAgentWithFile(
      commented(receiver.url).replace(
        '# Only the sensors we bill for.\nsubscriptions:\n',
        "# Only the sensors we bill for.\nsubscriptions:\n  - { topic: 'spBv1.0/#', payload: sparkplug, sparkplug: { requestRebirth: true } }\n",
      ),
    );
    agent = started.agent;
    const api = apiClient(agent);
    const added = await api.post<SubscriptionView>('/api/subscriptions', {
      topic: 'spBv1.0/G2/#',
      payload: 'sparkplug',
      sparkplug: { requestRebirth: false },
    });
    expect(added.body).toMatchObject({ payload: 'sparkplug', sparkplug: { requestRebirth: false } });
    expect((await api.del('/api/subscriptions/1')).status).toBe(204);
    const list = (await api.get<SubscriptionView[]>('/api/subscriptions')).body;
    expect(list[0]).toEqual({
      index: 0,
      topic: 'spBv1.0/#',
      qos: 1,
      payload: 'sparkplug',
      sparkplug: { requestRebirth: true },
    });
    expect(loadConfigFile(started.file, { env: {} }).subscriptions[0]).toEqual(agent.config.subscriptions[0]);
    expect(agent.config.subscriptions[0]!.sparkplug).toEqual({ requestRebirth: true });
    // PUT replaces the entry: options left out go back to their default (the admin UI's form
    // sends the ones it shows and keeps).
    const edited = await api.put<SubscriptionView>('/api/subscriptions/0', {
      topic: 'spBv1.0/#',
      payload: 'sparkplug',
    });
    expect(edited.body).toEqual({ index: 0, topic: 'spBv1.0/#', qos: 1, payload: 'sparkplug' });
    expect(loadConfigFile(started.file, { env: {} }).subscriptions[0]!.sparkplug).toBeUndefined();
  });

  it('saves settings: live ones apply, the others say they need a restart', async () => {
    receiver = await new Receiver([SECRET]).start();
    const started = await startAgentWithFile(commented(receiver.url));
    agent = started.agent;
    const api = apiClient(agent);
    const before = (await api.get<SettingsView>('/api/settings')).body;
    expect(before).toMatchObject({
      agentId: 'north-01',
      mqtt: { url: 'embedded', hasPassword: false, protocolVersion: 4, clientId: 'edgehook-north-01' },
      storage: { keepDeliveredHours: 24 },
      admin: { host: '127.0.0.1' },
    });

    const live = await api.put<SaveResult>('/api/settings', {
      storage: { keepDeliveredHours: 48, maxBytes: '64MiB' },
    });
    expect(live.status).toBe(200);
    expect(live.body.restartRequired).toEqual([]);
    expect(agent.config.storage).toMatchObject({ keepDeliveredHours: 48, maxBytes: 64 * 1024 ** 2 });
    expect(agent.status().outbox.maxBytes).toBe(64 * 1024 ** 2);
    expect(readFileSync(started.file, 'utf8')).toContain('maxBytes: 64MiB');
    expect(readFileSync(started.file, 'utf8')).toContain('# audit wants a day');

    const restart = await api.put<SaveResult>('/api/settings', {
      ...before,
      mqtt: { ...before.mqtt, embedded: { host: '127.0.0.1', port: 18830 }, password: 'hunter2-broker' },
      admin: { ...before.admin, port: 18787 },
    });
    expect(restart.status).toBe(200);
    expect(restart.body.restartRequired.sort()).toEqual(['admin.port', 'mqtt.embedded', 'mqtt.password']);
    // Saved, shown, but not running yet.
    const after = (await api.get<SettingsView>('/api/settings')).body;
    expect(after.mqtt.embedded.port).toBe(18830);
    expect(after.mqtt.hasPassword).toBe(true);
    expect(JSON.stringify(after)).not.toContain('hunter2-broker');
    expect(agent.config.admin.port).toBe(0);
    expect(agent.status().mqtt.connected).toBe(true);
    // Still answering where it listens.
    expect((await api.get('/api/status')).status).toBe(200);

    const bad = await api.put<{ fields: Record<string, string> }>('/api/settings', {
      storage: { whenFull: 'explode' },
      mqtt: { url: 'http://broker' },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['mqtt.url', 'storage.whenFull']);
    const notHere = await api.put<{ fields: Record<string, string> }>('/api/settings', {
      dataDir: '/tmp',
      endpoints: [],
    });
    expect(Object.keys(notHere.body.fields).sort()).toEqual(['dataDir', 'endpoints']);
  });

  it('without a config file, edits go to a new file in the data directory that the next start reads', async () => {
    receiver = await new Receiver([SECRET]).start();
    const dataDir = tempDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    agent = await startAgent(
      `agentId: no-file\nmqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }\nadmin: { port: 0 }\n`,
      { dataDir },
    );
    const api = apiClient(agent);
    const created = await api.post<CreatedEndpoint>('/api/endpoints', { id: 'cloud', url: receiver.url });
    expect(created.status).toBe(201);
    const file = join(dataDir, 'edgehook.yaml');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('written by the admin UI');
    const again = loadConfigFile(file, { env: {} });
    expect(again.dataDir).toBe(dataDir);
    expect(again.agentId).toBe('no-file');
    expect(again.subscriptions).toEqual(agent.config.subscriptions);
    expect(again.endpoints).toEqual(agent.config.endpoints);
    expect(again.endpoints[0]!.secrets).toEqual([created.body.secret]);
    // A second edit edits that file rather than starting over.
    await api.post('/api/subscriptions', { topic: 'more/#' });
    expect(loadConfigFile(file, { env: {} }).subscriptions.map((s) => s.topic)).toEqual(['#', 'more/#']);
  });

  it('edgehook run without --config picks up the file the admin UI wrote in the data directory', async () => {
    const dir = tempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    writeFileSync(
      join(dataDir, 'edgehook.yaml'),
      'agentId: from-data-dir\ndataDir: .\nmqtt: { embedded: { port: 0 } }\nadmin: { port: 0 }\n',
    );
    const proc = spawn(process.execPath, [join(ROOT, 'bin/edgehook.js'), 'run', '--data-dir', dataDir], {
      cwd: dir,
      env: { ...withoutConfigEnv(), EDGEHOOK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    cleanups.push(async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
    });
    const url = await waitFor(
      () =>
        /Admin UI: (http:\/\/[^/]+)\//.exec(out)?.[1] ??
        (proc.exitCode !== null ? `exit ${proc.exitCode}: ${out}` : undefined),
      'the agent to start',
      20_000,
    );
    expect(url).toMatch(/^http/);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const status = (await (
      await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { agent: { id: string } };
    expect(status.agent.id).toBe('from-data-dir');
  });
});
