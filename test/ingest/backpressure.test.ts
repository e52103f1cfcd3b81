import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { SECRET, publishUntilStored, startAgent } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { freePort, sleep, waitFor } from '../helpers/net.js';

/**
 * The agent bounds the messages it holds in memory, whatever the broker sends ahead of the
 * acks: at most 2,000 received and not yet stored and on disk (MqttSource MAX_HELD). Mosquitto
 * does not bound this itself (it was seen sending 22,000 QoS 1 messages ahead of their PUBACKs).
 * Here the outbox is full (stop-ingest) and the endpoint down while 6,000 messages arrive; then
 * the endpoint comes back, room is made, and every message is delivered.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const TOTAL = 6000;

it('holds at most 2,000 messages in memory while the outbox is full, and loses none of them', async () => {
  const mosq = await startMosquitto({ extraConfig: 'max_inflight_messages 0\nmax_queued_messages 0\n' });
  cleanup.push(() => mosq.cleanup());
  const port = await freePort();
  const agent: Agent = await startAgent(`agentId: gw-bp
mqtt: { url: '${mosq.url}', clientId: edgehook-bp }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints: [ { id: cloud, url: 'http://127.0.0.1:${port}/hooks', secret: ${SECRET}, timeoutMs: 2000 } ]
storage: { maxBytes: 128KiB, whenFull: stop-ingest }
admin: { port: 0 }
`);
  cleanup.push(() => agent.stop());
  const device = await mqtt.connectAsync(mosq.url, { clientId: 'device-bp' });
  cleanup.push(() => device.endAsync());
  await publishUntilStored(device, agent, 'd/probe', '{"probe":true}');

  let maxHeld = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxHeld = Math.max(maxHeld, agent.status().mqtt.held);
      await sleep(260); // status() is cached for 250 ms
    }
  })();
  const pad = 'x'.repeat(150);
  for (let i = 0; i < TOTAL; i += 500) {
    await Promise.all(
      [...Array(Math.min(500, TOTAL - i)).keys()].map((k) =>
        device.publishAsync('d/x', JSON.stringify({ i: i + k, pad }), { qos: 1 }),
      ),
    );
  }
  // The outbox is full and ingest waits: the agent holds what it has, the broker the rest.
  await waitFor(
    () => agent.status().mqtt.holding && agent.status().mqtt.held >= 1500,
    'ingest to hold back',
    20_000,
    100,
  );
  await sleep(1000);
  const stalled = agent.status();
  expect(stalled.outbox.received).toBeLessThan(TOTAL / 2);
  expect(stalled.mqtt.held).toBeLessThanOrEqual(2000);

  const receiver = await new Receiver([SECRET]).start(port);
  cleanup.push(() => receiver.stop());
  await waitFor(
    () => new Set(receiver.delivered.map((r) => r.id)).size >= TOTAL + 1,
    `all ${TOTAL} messages and the probe delivered`,
    120_000,
    200,
  );
  sampling = false;
  await sampler;
  expect(maxHeld).toBeGreaterThan(1000);
  expect(maxHeld).toBeLessThanOrEqual(2000);
  const values = receiver.delivered
    .map((r) => (JSON.parse(r.body) as { data: { i?: number } }).data.i)
    .filter((i) => i !== undefined);
  expect(new Set(values).size).toBe(TOTAL);
}, 180_000);
