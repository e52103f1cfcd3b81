import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { RUN_STATE_FILE } from '../../src/agent/run-marker.js';
import { VERSION } from '../../src/version.js';
import { apiClient, startAgentWithFile } from '../admin/helpers.js';
import { AgentProcess, SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver, type Received } from '../helpers/receiver.js';

/**
 * Health as webhooks (README "Health as webhooks"): edgehook.agent.started at every start with
 * how the last run ended, edgehook.heartbeat every heartbeat.intervalSeconds. Received by real
 * HTTP receivers that verify every signature, among ordinary sensor events.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(): Promise<Receiver> {
  const r = await new Receiver([SECRET]).start();
  cleanups.push(() => r.stop());
  return r;
}

const HEARTBEAT_KEYS = [
  'version',
  'uptimeSeconds',
  'mqttConnected',
  'pending',
  'oldestPendingAgeSeconds',
  'bytes',
  'maxBytes',
  'diskFreeBytes',
  'endpoints',
];

function yaml(fleet: string, data: string, extra = ''): string {
  return `
agentId: field-07
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/+/temperature', qos: 1, type: 'sensor.{1}.temperature' }
endpoints:
  - { id: fleet, url: '${fleet}', secret: ${SECRET}, types: ['edgehook.*', 'sensor.*'] }
  - { id: data, url: '${data}', secret: ${SECRET} }
admin: { port: 0 }
${extra}`;
}

const ofType = (rs: Received[], type: string) => rs.filter((r) => r.json.type === type);

describe('health as webhooks', () => {
  it('emits agent.started first and heartbeats among sensor events: signed, ordered, routed by types', async () => {
    const fleet = await receiver();
    const data = await receiver();
    const dataDir = tempDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const agent = await startAgent(yaml(fleet.url, data.url, 'heartbeat: { intervalSeconds: 1 }'), {
      dataDir,
    });
    cleanups.push(() => agent.stop());

    const device = await mqtt.connectAsync(agent.broker!.url);
    for (let i = 0; i < 30; i++) {
      await device.publishAsync('sensors/hall/temperature', JSON.stringify({ c: i }), { qos: 1 });
      // Spread over more than two heartbeats, so they land between sensor events.
      if (i % 10 === 9)
        await waitFor(
          () => ofType(fleet.delivered, 'edgehook.heartbeat').length >= i / 10,
          'a heartbeat',
          5000,
        );
    }
    await device.endAsync();
    await waitFor(
      () =>
        fleet.delivered.filter((r) => r.json.type.startsWith('sensor.')).length === 30 &&
        ofType(fleet.delivered, 'edgehook.heartbeat').length >= 3,
      'sensor events and heartbeats at the fleet endpoint',
      15_000,
    );

    const got = fleet.delivered;
    expect(got.every((r) => r.verified)).toBe(true);
    // Strict order: seq grows along arrival, with no duplicate; agent.started has the lowest.
    const seqs = got.map((r) => r.json.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const started = got[0]!;
    expect(started.json).toMatchObject({
      type: 'edgehook.agent.started',
      agent: 'field-07',
      topic: 'edgehook/agent/started',
      data: { version: VERSION, previousStop: 'first-start' },
    });
    expect(Object.keys(started.json.data as object)).toEqual(['version', 'configSha256', 'previousStop']);
    expect((started.json.data as { configSha256: string }).configSha256).toMatch(/^[0-9a-f]{64}$/);

    const beats = ofType(got, 'edgehook.heartbeat');
    const firstSensor = got.findIndex((r) => r.json.type.startsWith('sensor.'));
    const lastSensor =
      got.length - 1 - [...got].reverse().findIndex((r) => r.json.type.startsWith('sensor.'));
    expect(beats.some((b) => got.indexOf(b) > firstSensor && got.indexOf(b) < lastSensor)).toBe(true);
    for (const b of beats) {
      expect(b.json.topic).toBe('edgehook/heartbeat');
      expect(Object.keys(b.json.data as object)).toEqual(HEARTBEAT_KEYS);
    }
    const beat = beats.at(-1)!.json.data as Record<string, unknown>;
    expect(beat).toMatchObject({ version: VERSION, mqttConnected: true, maxBytes: 512 * 1024 ** 2 });
    expect(beat.uptimeSeconds).toBeGreaterThanOrEqual(1);
    expect(beat.diskFreeBytes).toBeGreaterThan(0);
    expect(beat.bytes).toBeGreaterThan(0);
    expect(typeof beat.pending).toBe('number');
    expect(beat.endpoints).toEqual([
      { id: 'fleet', state: expect.any(String), pending: expect.any(Number) },
      { id: 'data', state: expect.any(String), pending: expect.any(Number) },
    ]);

    // The default "*" takes the sensor events, not the agent's own.
    await waitFor(() => data.delivered.length === 30, 'the data endpoint to get the sensor events');
    expect(data.delivered.every((r) => r.json.type.startsWith('sensor.'))).toBe(true);
  });

  it('stores none of them when no endpoint takes them: nothing unrouted, nothing counted', async () => {
    const data = await receiver();
    const dataDir = tempDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const agent = await startAgent(
      `agentId: quiet
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
endpoints: [{ id: data, url: '${data.url}', secret: ${SECRET} }]
admin: { port: 0 }
heartbeat: { intervalSeconds: 1 }`,
      { dataDir },
    );
    cleanups.push(() => agent.stop());
    expect(agent.previousStop).toBe('first-start');
    const until = Date.now() + 2500;
    await waitFor(() => Date.now() > until, 'two heartbeat intervals', 5000, 100);
    expect(agent.status().outbox).toMatchObject({ received: 0, unrouted: 0, pending: 0 });
    expect(data.requests).toEqual([]);
  });

  it('previousStop: first-start, then clean after stop(); every start stored and delivered in order', async () => {
    const fleet = await receiver();
    const dataDir = tempDir();
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const start = () => startAgent(yaml(fleet.url, 'http://127.0.0.1:9/unused'), { dataDir });
    const first = await start();
    expect(first.previousStop).toBe('first-start');
    await first.stop();
    expect(JSON.parse(readFileSync(join(dataDir, RUN_STATE_FILE), 'utf8'))).toMatchObject({ state: 'clean' });
    const second = await start();
    expect(second.previousStop).toBe('clean');
    // Running: the record says so until the next clean stop, so a crash now would be seen.
    expect(JSON.parse(readFileSync(join(dataDir, RUN_STATE_FILE), 'utf8'))).toMatchObject({
      state: 'running',
    });
    await second.stop();
    const third = await start();
    cleanups.push(() => third.stop());
    // Events a stop left undelivered go out with the next run, in order.
    await waitFor(
      () => ofType(fleet.delivered, 'edgehook.agent.started').length >= 3,
      'three started events',
    );
    const started = ofType(fleet.delivered, 'edgehook.agent.started');
    expect(started.map((r) => (r.json.data as { previousStop: string }).previousStop)).toEqual([
      'first-start',
      'clean',
      'clean',
    ]);
    expect(started.every((r) => r.verified)).toBe(true);
  });

  it('heartbeats turn on from the settings API without a restart, and off again', async () => {
    const fleet = await receiver();
    const started = await startAgentWithFile(yaml(fleet.url, 'http://127.0.0.1:9/unused'));
    const agent: Agent = started.agent;
    cleanups.push(() => rmSync(started.dir, { recursive: true, force: true }));
    cleanups.push(() => agent.stop());
    const api = apiClient(agent);
    expect((await api.get<{ heartbeat: unknown }>('/api/settings')).body.heartbeat).toEqual({
      intervalSeconds: 0,
    });
    const on = await api.put<{ restartRequired: string[] }>('/api/settings', {
      heartbeat: { intervalSeconds: 1 },
    });
    expect(on.status).toBe(200);
    expect(on.body.restartRequired).toEqual([]);
    expect(readFileSync(started.file, 'utf8')).toMatch(/heartbeat:\s*\n\s*intervalSeconds: 1/);
    await waitFor(() => ofType(fleet.delivered, 'edgehook.heartbeat').length >= 2, 'heartbeats', 10_000);

    const off = await api.put('/api/settings', { heartbeat: { intervalSeconds: 0 } });
    expect(off.status).toBe(200);
    const bad = await api.put<{ fields: Record<string, string> }>('/api/settings', {
      heartbeat: { intervalSeconds: 0.5 },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields)).toEqual(['heartbeat.intervalSeconds']);
    // Off: no heartbeat is stored any more (the outbox's count stays put over two would-be intervals).
    const count = () => agent.status().outbox.received;
    const before = count();
    const until = Date.now() + 2500;
    await waitFor(() => Date.now() > until, 'two intervals', 5000, 100);
    expect(count()).toBe(before);
  });
});

describe('previousStop through a real agent process', () => {
  it('clean after SIGTERM, crash after kill -9; agent.started is delivered each time, with the config file hash', async () => {
    const fleet = await receiver();
    const dir = tempDir('edgehook-started-');
    const proc = new AgentProcess(
      dir,
      yaml(fleet.url, 'http://127.0.0.1:9/unused').replace(
        'agentId: field-07',
        'agentId: field-07\nlogLevel: warn',
      ),
    );
    cleanups.push(() => proc.cleanup());
    // By webhook-id: a delivery in flight at the kill is sent again after it (at-least-once).
    const startedEvents = () =>
      ofType(fleet.delivered, 'edgehook.agent.started').filter(
        (r, i, all) => all.findIndex((o) => o.id === r.id) === i,
      );
    const previous = () => startedEvents().map((r) => (r.json.data as { previousStop: string }).previousStop);

    await proc.start();
    await waitFor(() => startedEvents().length === 1, 'the first agent.started');
    expect(await proc.signal('SIGTERM')).toBe(0);
    await proc.start();
    await waitFor(() => startedEvents().length === 2, 'agent.started after a clean stop');
    expect(await proc.kill()).toBe(null);
    await proc.start();
    await waitFor(() => startedEvents().length === 3, 'agent.started after kill -9');
    expect(previous()).toEqual(['first-start', 'clean', 'crash']);
    expect(startedEvents().every((r) => r.verified)).toBe(true);
    // The hash of the file the agent read, as sha256sum prints it.
    const fileHash = createHash('sha256').update(readFileSync(proc.configFile)).digest('hex');
    expect(startedEvents().map((r) => (r.json.data as { configSha256: string }).configSha256)).toEqual([
      fileHash,
      fileHash,
      fileHash,
    ]);
    // Seq goes on growing across restarts, a crash included.
    const seqs = startedEvents().map((r) => r.json.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
