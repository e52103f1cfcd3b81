import { afterAll, beforeAll, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { AgentProcess, SECRET, tempDir } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/net.js';

/**
 * The promise against a real Mosquitto, with the agent started as a user starts it.
 */

let mosq: Mosquitto;
beforeAll(async () => {
  mosq = await startMosquitto();
});
afterAll(async () => {
  await mosq?.cleanup();
});

function config(receiverUrl: string, clientId: string): string {
  return `agentId: gw-${clientId}
mqtt: { url: '${mosq.url}', clientId: ${clientId} }
subscriptions: [ { topic: 'plant/+/reading', qos: 1, type: 'plant.{1}' } ]
endpoints: [ { id: cloud, url: '${receiverUrl}', secret: ${SECRET} } ]
admin: { port: 0 }
`;
}

async function publishAll(
  n: number,
  topic: string,
  onProgress?: (i: number) => void | Promise<void>,
): Promise<void> {
  const device = await mqtt.connectAsync(mosq.url, {
    clientId: `device-${Math.random().toString(16).slice(2)}`,
  });
  // A window of outstanding QoS 1 publishes, so the publisher is not the bottleneck.
  const window = 50;
  for (let i = 0; i < n; i += window) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + window); j++)
      batch.push(device.publishAsync(topic, JSON.stringify({ i: j, pad: 'x'.repeat(120) }), { qos: 1 }));
    await Promise.all(batch);
    await onProgress?.(i + window);
  }
  await device.endAsync();
}

it('5,000 QoS 1 messages through Mosquitto all arrive, signed, in order, in the wire format', async () => {
  const receiver = await new Receiver([SECRET]).start();
  const agent = new AgentProcess(tempDir(), config(receiver.url, 'five-k'));
  try {
    await agent.start();
    await waitFor(async () => (await agent.status()).mqtt.connected, 'the agent to connect');
    await publishAll(5000, 'plant/line1/reading');
    await waitFor(
      () => receiver.delivered.length >= 5000 || receiver.badSignatures > 0,
      '5,000 deliveries',
      150_000,
      100,
    );
    // Over every request, not only the 2xx ones: a bad signature is answered 401.
    expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
    const got = receiver.delivered;
    expect(got.length).toBe(5000);
    expect(got.map((r) => (r.json.data as { i: number }).i)).toEqual([...Array(5000).keys()]);
    const seqs = got.map((r) => r.json.seq);
    expect(seqs.every((s, k) => k === 0 || s > seqs[k - 1]!)).toBe(true);
    expect(new Set(got.map((r) => r.id)).size).toBe(5000);
    expect(got[0]!.json).toMatchObject({
      type: 'plant.line1',
      agent: 'gw-five-k',
      topic: 'plant/line1/reading',
    });
    const st = await agent.status();
    expect(st.outbox).toMatchObject({ received: 5000, delivered: 5000, pending: 0, dropped: 0, rejected: 0 });
    expect(await agent.signal('SIGTERM')).toBe(0);
  } finally {
    await agent.cleanup();
    await receiver.stop();
  }
}, 240_000);

it('SIGKILL mid-stream and a restart deliver everything; duplicates only with the same webhook-id', async () => {
  const receiver = await new Receiver([SECRET]).start();
  const agent = new AgentProcess(tempDir(), config(receiver.url, 'killed'));
  try {
    await agent.start();
    await waitFor(async () => (await agent.status()).mqtt.connected, 'the agent to connect');
    let kills = 0;
    await publishAll(3000, 'plant/line2/reading', async (sent) => {
      // Kill it twice while messages stream in and deliveries are in flight; restart at once.
      if ((sent === 1000 || sent === 2000) && kills < 2) {
        kills++;
        await agent.kill();
        await agent.start();
      }
    });
    expect(kills).toBe(2);
    await waitFor(
      () =>
        new Set(receiver.delivered.map((r) => (r.json.data as { i: number }).i)).size >= 3000 ||
        receiver.badSignatures > 0,
      'all 3,000 delivered',
      150_000,
      100,
    );
    expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
    const idsByIndex = new Map<number, Set<string>>();
    for (const r of receiver.delivered) {
      const i = (r.json.data as { i: number }).i;
      if (!idsByIndex.has(i)) idsByIndex.set(i, new Set());
      idsByIndex.get(i)!.add(r.id);
    }
    expect(idsByIndex.size).toBe(3000);
    const withTwoIds = [...idsByIndex.entries()].filter(([, ids]) => ids.size > 1).map(([i]) => i);
    expect(withTwoIds).toEqual([]);
    // Strict ordering: once duplicates are removed, the order holds.
    const firstSeen: number[] = [];
    const seen = new Set<number>();
    for (const r of receiver.delivered) {
      const i = (r.json.data as { i: number }).i;
      if (!seen.has(i)) {
        seen.add(i);
        firstSeen.push(i);
      }
    }
    expect(firstSeen).toEqual([...Array(3000).keys()]);
  } finally {
    await agent.cleanup();
    await receiver.stop();
  }
}, 240_000);
