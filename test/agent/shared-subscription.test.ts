import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { Writable } from 'node:stream';
import type { Agent } from '../../src/agent/create-agent.js';
import { createLogger } from '../../src/log.js';
import { Receiver } from '../helpers/receiver.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/net.js';

let agents: Agent[] = [];
let mosq: Mosquitto | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  for (const a of agents) await a.stop();
  await receiver?.stop();
  await mosq?.cleanup();
  agents = [];
});

it('two agents sharing a subscription on Mosquitto deliver every event once in total', async () => {
  mosq = await startMosquitto();
  receiver = await new Receiver([SECRET]).start();
  for (const name of ['gw-a', 'gw-b']) {
    agents.push(
      await startAgent(`agentId: ${name}
mqtt: { url: '${mosq.url}', clientId: ${name}, protocolVersion: 5 }
subscriptions: [ { topic: '$share/edge/plant/+/reading', qos: 1, type: 'plant.{1}' } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { enabled: false }
`),
    );
  }
  await waitFor(() => agents.every((a) => a.status().mqtt.connected), 'both agents connected');
  const device = await mqtt.connectAsync(mosq.url);
  for (let i = 0; i < 200; i += 20) {
    await Promise.all(
      [...Array(20).keys()].map((j) =>
        device.publishAsync(`plant/line${(i + j) % 3}/reading`, JSON.stringify({ i: i + j }), { qos: 1 }),
      ),
    );
  }
  await device.endAsync();
  await waitFor(() => receiver!.delivered.length >= 200, '200 deliveries', 20_000);
  const got = receiver.delivered.map((r) => (r.json.data as { i: number }).i).sort((a, b) => a - b);
  expect(got).toEqual([...Array(200).keys()]);
  const byAgent = new Map<string, number>();
  for (const r of receiver.delivered) byAgent.set(r.json.agent, (byAgent.get(r.json.agent) ?? 0) + 1);
  expect([...byAgent.keys()].sort()).toEqual(['gw-a', 'gw-b']);
  // Type templates match the filter after the $share prefix.
  expect(receiver.delivered[0]!.json.type).toMatch(/^plant\.line[0-2]$/);
});

it('an endpoint with certificate verification turned off logs a warning at start', async () => {
  let out = '';
  const sink = new Writable({
    write: (chunk, _enc, cb) => {
      out += chunk;
      cb();
    },
  });
  agents.push(
    await startAgent(
      `mqtt: { url: embedded, embedded: { port: 0 } }
endpoints: [ { id: insecure, url: 'https://127.0.0.1:9/hooks', tls: { rejectUnauthorized: false } } ]
admin: { enabled: false }
`,
      { logger: createLogger({ level: 'warn', destination: sink }) },
    ),
  );
  await waitFor(() => out.includes('verification is OFF'), 'the warning');
  expect(JSON.parse(out.split('\n').find((l) => l.includes('verification is OFF'))!)).toMatchObject({
    level: 40,
    endpoint: 'insecure',
  });
});
