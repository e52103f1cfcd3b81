import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { Receiver, type Received } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';
import {
  Cleanup,
  device,
  expectCountsAddUp,
  integrityCheck,
  publishPaced,
  tempDirIn,
  waitWithProgress,
} from './support/rig.js';

/**
 * README "Guarantees" 1: a broker restart loses nothing. The agent runs as a user
 * runs it, against a real Mosquitto with persistence (its session is persistent: fixed client
 * id, clean: false), while the broker is restarted or killed.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Rig {
  mosq: Mosquitto;
  receiver: Receiver;
  agent: AgentProcess;
  dev: MqttClient;
}

async function rig(name: string): Promise<Rig> {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const agent = new AgentProcess(
    tempDirIn(cleanup, `edgehook-dur-broker-${name}-`),
    `agentId: gw-${name}
mqtt: { url: '${mosq.url}', clientId: edgehook-${name}, reconnectMaxSeconds: 1 }
subscriptions: [ { topic: 'plant/#', qos: 1, type: 'plant.{1}' } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();
  const dev = await device(mosq.url, `device-${name}`, cleanup);
  // The agent's subscription (and so its session) exists once a probe comes out at the receiver.
  let n = 0;
  await waitFor(
    async () => {
      await dev.publishAsync('plant/probe', JSON.stringify({ probe: n++ }), { qos: 1 });
      // Any request shows the subscription, whatever its signature (asserted later, by name).
      return receiver.requests.some((r) => r.json.topic === 'plant/probe');
    },
    'the agent to subscribe',
    20_000,
    250,
  );
  return { mosq, receiver, agent, dev };
}

const message = (i: number) => ({ topic: 'plant/line', payload: JSON.stringify({ i }) });
const indexOf = (r: Received) => (r.json.data as { i: number }).i;
const lines = (r: Receiver) => r.delivered.filter((x) => x.json.topic === 'plant/line');

/** Every index 0..n-1 arrived; the first arrivals are in order; returns the index → webhook-ids map. */
async function expectAllInOrder(receiver: Receiver, n: number): Promise<Map<number, Set<string>>> {
  const distinct = () => new Set(lines(receiver).map(indexOf)).size;
  // A bad signature is answered 401 and never delivered: it ends the wait and fails below.
  const done = () => distinct() >= n || receiver.badSignatures > 0;
  await waitWithProgress(done, distinct, `all ${n} messages at the receiver`, {
    stallMs: 20_000,
    timeoutMs: 90_000,
  });
  expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
  const ids = new Map<number, Set<string>>();
  const firstSeen: number[] = [];
  for (const r of lines(receiver)) {
    const i = indexOf(r);
    if (!ids.has(i)) {
      ids.set(i, new Set());
      firstSeen.push(i);
    }
    ids.get(i)!.add(r.id);
  }
  expect(ids.size).toBe(n);
  expect(firstSeen).toEqual([...Array(n).keys()]);
  return ids;
}

/** Waits until Mosquitto has written its persistence file after `since` (autosave_interval 1). */
async function persisted(mosq: Mosquitto, since: number): Promise<void> {
  await waitFor(
    () => (statSync(join(mosq.dir, 'mosquitto.db'), { throwIfNoEntry: false })?.mtimeMs ?? 0) > since,
    'Mosquitto to save its persistence file',
    10_000,
    50,
  );
}

describe('broker restarts', () => {
  it('messages queued for the agent session while the agent is down survive a broker restart and all arrive, once each', async () => {
    const { mosq, receiver, agent, dev } = await rig('queued');
    expect(await agent.signal('SIGTERM')).toBe(0);
    await publishPaced(dev, 1000, message, { window: 100 });
    await mosq.restart(); // SIGTERM: Mosquitto saves the queued session on the way out
    await agent.start();
    const ids = await expectAllInOrder(receiver, 1000);
    // Nothing was in flight to the agent: not one duplicate.
    expect([...ids.values()].every((s) => s.size === 1)).toBe(true);
    expect(lines(receiver).length).toBe(1000);
    await waitFor(
      async () => (await agent.status()).outbox.pending === 0,
      'the outbox to settle',
      10_000,
      100,
    );
    expectCountsAddUp((await agent.status()).outbox);
  });

  it('Mosquitto restarted while the agent is connected and messages stream: nothing lost, order holds', async () => {
    const { mosq, receiver, agent, dev } = await rig('connected');
    const progress = { published: 0 };
    const publishing = publishPaced(dev, 2000, message, { window: 50, ratePerSec: 400 }, progress);
    await waitFor(() => progress.published >= 600, 'the stream to be under way');
    const publishedBefore = progress.published;
    await mosq.restart();
    await publishing; // the device's own session resends what the broker had not acked
    expect(publishedBefore).toBeLessThan(2000);
    expect(lines(receiver).length).toBeLessThan(2000);
    await waitFor(async () => (await agent.status()).mqtt.connected, 'the agent to reconnect', 20_000, 100);
    const ids = await expectAllInOrder(receiver, 2000);
    // A duplicate can only come from a message in flight when the connection went: the device's
    // window (50) or the broker's in-flight window to the agent (100).
    const duplicated = [...ids.values()].filter((s) => s.size > 1).length;
    console.log(`[broker restart while connected] ${duplicated} message(s) delivered under two webhook-ids`);
    expect(duplicated).toBeLessThanOrEqual(150);
    await waitFor(
      async () => (await agent.status()).outbox.pending === 0,
      'the outbox to settle',
      10_000,
      100,
    );
    expectCountsAddUp((await agent.status()).outbox);
  });

  it('Mosquitto SIGKILLed while the agent drains its queue: everything the broker had persisted arrives', async () => {
    const { mosq, receiver, agent, dev } = await rig('killed');
    // Queue 1,000 messages for the agent's session while it is down, and let Mosquitto save them.
    expect(await agent.signal('SIGTERM')).toBe(0);
    await publishPaced(dev, 1000, message, { window: 100 });
    const queuedAt = Date.now();
    await persisted(mosq, queuedAt);
    // The receiver is slow, so the agent is mid-drain (acking, committing, delivering) when the
    // broker is killed without a chance to save anything more.
    receiver.respond = () => ({ status: 200, delayMs: 2 });
    await agent.start();
    // A bad signature (answered 401, never delivered) ends the wait too: expectAllInOrder fails on it.
    await waitFor(
      () => lines(receiver).length >= 50 || receiver.badSignatures > 0,
      'the agent to be draining',
    );
    await mosq.kill();
    await waitFor(
      async () => !(await agent.status()).mqtt.connected,
      'the agent to notice the broker is gone',
      10_000,
      50,
    );
    await mosq.start();
    // New messages after the restart arrive too, after the old ones.
    await publishPaced(dev, 200, (i) => message(1000 + i), { window: 50 });
    const ids = await expectAllInOrder(receiver, 1200);
    // The broker forgot the acks it got after its last save and sends those messages again:
    // at-least-once, never a loss.
    const duplicated = [...ids.values()].filter((s) => s.size > 1).length;
    console.log(
      `[broker SIGKILL] ${duplicated} message(s) sent again by the broker after it lost its unsaved state`,
    );
    await waitFor(
      async () => (await agent.status()).outbox.pending === 0,
      'the outbox to settle',
      20_000,
      100,
    );
    expectCountsAddUp((await agent.status()).outbox);
    expect(await agent.signal('SIGTERM')).toBe(0);
    expect(integrityCheck(join(agent.dataDir, 'edgehook.db'))).toBe('ok');
  });
});
