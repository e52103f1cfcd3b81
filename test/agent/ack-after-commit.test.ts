import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { AgentProcess, SECRET, tempDir } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

it('acks a QoS 1 message to the broker only after its event is committed to SQLite', async () => {
  // The broker runs in this process and the agent in its own, as in production: when the
  // agent's PUBACK arrives, this process reads the agent's database file right then.
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  const receiver = await new Receiver([SECRET]).start();
  receiver.respond = () => ({ status: 503 });
  cleanup.push(() => receiver.stop());
  const agent = new AgentProcess(
    tempDir(),
    `agentId: acker
mqtt: { url: 'mqtt://127.0.0.1:${port}', clientId: acker }
subscriptions: [ { topic: 'd/#', qos: 1 } ]
endpoints: [ { id: r, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  cleanup.push(() => agent.cleanup());
  let subscribed = false;
  broker.on('subscribe', (subs, client) => {
    if (client?.id === 'acker' && subs.some((s) => s.topic === 'd/#')) subscribed = true;
  });
  await agent.start();
  await waitFor(() => subscribed, 'the agent to subscribe');

  const db = new Database(join(agent.dataDir, 'edgehook.db'), { readonly: true });
  cleanup.push(async () => void db.close());
  const stored = db.prepare("SELECT count(*) FROM events WHERE instr(body, ',\"data\":' || ? || '}') > 0").pluck();
  const notStoredWhenAcked: string[] = [];
  let acks = 0;
  broker.on('ack', (packet, client) => {
    if (client?.id !== 'acker' || packet.cmd !== 'publish') return;
    acks++;
    if (stored.get(String(packet.payload)) !== 1) notStoredWhenAcked.push(String(packet.payload));
  });
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  cleanup.push(() => device.endAsync());
  for (let round = 0; round < 10; round++) {
    await Promise.all([...Array(50).keys()].map((i) => device.publishAsync('d/x', JSON.stringify({ round, i }), { qos: 1 })));
  }
  await waitFor(() => acks === 500, '500 PUBACKs from the agent', 20_000);
  expect(notStoredWhenAcked).toEqual([]);
});
