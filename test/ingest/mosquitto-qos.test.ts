import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { Receiver, type Received } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';

/**
 * Ingest against a real Mosquitto (README "Guarantees" 1): QoS 0/1/2, the persistent session queueing
 * while the agent is down, and broker restarts. The agent runs in this process; the receiver
 * verifies every request with the standardwebhooks package.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Rig {
  m: Mosquitto;
  receiver: Receiver;
  device: MqttClient;
  dataDir: string;
  yaml: string;
}

async function rig(opts: { qos?: 0 | 1 | 2; protocolVersion?: 4 | 5 } = {}): Promise<Rig> {
  const m = await startMosquitto();
  cleanup.push(() => m.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.push(() => receiver.stop());
  const dataDir = tempDir('edgehook-mosq-agent-');
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  // A persistent device session too, so its QoS 2 publishes stay exactly-once across a broker restart.
  const device = await mqtt.connectAsync(m.url, {
    clientId: `device-${m.port}`,
    clean: false,
    reconnectPeriod: 200,
  });
  cleanup.push(() => device.endAsync(true));
  const yaml = `
agentId: gw-mosq
mqtt: { url: '${m.url}', clientId: 'edgehook-${m.port}', protocolVersion: ${opts.protocolVersion ?? 4}, sessionExpirySeconds: 600 }
subscriptions: [ { topic: 'dev/#', qos: ${opts.qos ?? 1} } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`;
  return { m, receiver, device, dataDir, yaml };
}

async function agentOn(r: Rig): Promise<Agent> {
  const agent = await startAgent(r.yaml, { dataDir: r.dataDir });
  cleanup.push(() => agent.stop());
  return agent;
}

/** Publishes probes until one comes out at the receiver: the agent's subscription is in place. */
async function subscribed(r: Rig): Promise<void> {
  let n = 0;
  await waitFor(
    async () => {
      await r.device.publishAsync('dev/probe', JSON.stringify({ probe: n++ }), { qos: 1 });
      // Any request shows the subscription, whatever its signature (asserted later, by name).
      return r.receiver.requests.some((x) => x.json.topic === 'dev/probe');
    },
    'the agent to subscribe',
    15_000,
    200,
  );
}

function on(r: Rig, topic: string): Received[] {
  return r.receiver.delivered.filter((x) => x.json.topic === topic);
}

/**
 * A wait for deliveries ends early at the first request that fails verification: it is answered
 * 401 and never delivered, so it must fail in expectEachOnce, not as a timeout.
 */
function badSignature(r: Rig): boolean {
  return r.receiver.badSignatures > 0;
}

/**
 * Every message exactly once after dropping repeats of a webhook-id (what a receiver does), and
 * every request signed: over all requests, as `delivered` holds only the ones that verified.
 */
function expectEachOnce(r: Rig, topic: string, count: number): void {
  expect(r.receiver.badSignatures, 'requests with a bad signature').toBe(0);
  const got = on(r, topic);
  const byId = new Map(got.map((x) => [x.id, x]));
  const indices = [...byId.values()].map((x) => (x.json.data as { i: number }).i).sort((a, b) => a - b);
  expect(indices).toEqual([...Array(count).keys()]);
}

async function publishMany(
  device: MqttClient,
  topic: string,
  count: number,
  qos: 0 | 1 | 2,
  from = 0,
): Promise<void> {
  for (let i = from; i < from + count; i += 50) {
    const chunk = [...Array(Math.min(50, from + count - i)).keys()].map((k) =>
      device.publishAsync(topic, JSON.stringify({ i: i + k }), { qos }),
    );
    await Promise.all(chunk);
  }
}

describe('ingest from a real Mosquitto', () => {
  it('QoS 2: every message arrives exactly once, in order', async () => {
    const r = await rig({ qos: 2 });
    const agent = await agentOn(r);
    await subscribed(r);
    await publishMany(r.device, 'dev/q2', 300, 2);
    await waitFor(() => on(r, 'dev/q2').length >= 300, '300 QoS 2 deliveries', 30_000);
    await waitFor(() => agent.status().outbox.pending === 0, 'the outbox to drain', 10_000);
    // Mosquitto keeps order: every probe published before the 300 has arrived by now.
    const probes = on(r, 'dev/probe').length;
    const got = on(r, 'dev/q2');
    expect(got.map((x) => (x.json.data as { i: number }).i)).toEqual([...Array(300).keys()]);
    expect(new Set(got.map((x) => x.id)).size).toBe(300);
    // Stored once each: the outbox received nothing beyond the probes and these 300.
    expect(agent.status().outbox.received).toBe(300 + probes);
  });

  it('QoS 0: messages are delivered', async () => {
    const r = await rig({ qos: 0 });
    await agentOn(r);
    await subscribed(r);
    await publishMany(r.device, 'dev/q0', 50, 0);
    await waitFor(() => on(r, 'dev/q0').length === 50 || badSignature(r), '50 QoS 0 deliveries', 20_000);
    expectEachOnce(r, 'dev/q0', 50);
  });

  for (const protocolVersion of [4, 5] as const) {
    it(`MQTT ${protocolVersion === 5 ? '5 (session expiry)' : '3.1.1 (clean: false)'}: 200 messages queued by the broker while the agent is down all arrive once, in order`, async () => {
      const r = await rig({ qos: 1, protocolVersion });
      const first = await agentOn(r);
      await subscribed(r);
      await first.stop();
      expect(first.mqtt!.connected).toBe(false);

      await publishMany(r.device, 'dev/queued', 200, 1);
      const second = await agentOn(r);
      await waitFor(() => on(r, 'dev/queued').length >= 200, '200 queued deliveries', 30_000);
      await waitFor(() => second.status().outbox.pending === 0, 'the outbox to drain', 10_000);
      const got = on(r, 'dev/queued');
      expect(got.map((x) => (x.json.data as { i: number }).i)).toEqual([...Array(200).keys()]);
      expect(new Set(got.map((x) => x.id)).size).toBe(200);
      // seq keeps growing across the restart: the queued events come after the probes.
      const seqs = r.receiver.delivered.map((x) => x.json.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(second.status().mqtt.connected).toBe(true);
    });
  }

  it('a Mosquitto restart while connected loses nothing, and the agent reconnects', async () => {
    const r = await rig({ qos: 1 });
    const agent = await agentOn(r);
    await subscribed(r);
    // Device → broker at QoS 2, so the only duplicates possible are the agent's own.
    const before = publishMany(r.device, 'dev/restart', 150, 2);
    await waitFor(
      () => on(r, 'dev/restart').length >= 20 || badSignature(r),
      'some deliveries before the restart',
      20_000,
      5,
    );
    await r.m.stop();
    await waitFor(() => !agent.status().mqtt.connected, 'the agent to notice the broker is gone', 10_000);
    await r.m.start();
    await before;
    await publishMany(r.device, 'dev/restart', 150, 2, 150);
    await waitFor(() => agent.status().mqtt.connected, 'the agent to reconnect', 30_000);
    await waitFor(
      () => new Set(on(r, 'dev/restart').map((x) => x.id)).size >= 300 || badSignature(r),
      '300 distinct deliveries',
      30_000,
    );
    expectEachOnce(r, 'dev/restart', 300);
  });
});
