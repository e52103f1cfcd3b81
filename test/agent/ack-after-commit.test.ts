import { createServer, type AddressInfo, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { AgentProcess, SECRET, tempDir } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { sleep, waitFor } from '../helpers/net.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/**
 * The broker runs in this process and the agent in its own, as in production: when the
 * agent's PUBACK arrives, this process can read the agent's database file right then.
 * `acked` lists the payloads the agent has acked, in order.
 */
async function rig() {
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
  const acked: string[] = [];
  const onAck: ((payload: string) => void)[] = [];
  broker.on('ack', (packet, client) => {
    if (client?.id !== 'acker' || packet.cmd !== 'publish') return;
    acked.push(String(packet.payload));
    for (const f of onAck) f(String(packet.payload));
  });
  await agent.start();
  await waitFor(() => subscribed, 'the agent to subscribe');
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  cleanup.push(() => device.endAsync());
  return { agent, device, acked, onAck };
}

it('acks a QoS 1 message to the broker only after its event is committed to SQLite', async () => {
  const { agent, device, acked, onAck } = await rig();
  const db = new Database(join(agent.dataDir, 'edgehook.db'), { readonly: true });
  cleanup.push(async () => void db.close());
  const stored = db
    .prepare("SELECT count(*) FROM events WHERE instr(body, ',\"data\":' || ? || '}') > 0")
    .pluck();
  const notStoredWhenAcked: string[] = [];
  onAck.push((payload) => {
    if (stored.get(payload) !== 1) notStoredWhenAcked.push(payload);
  });
  for (let round = 0; round < 10; round++) {
    await Promise.all(
      [...Array(50).keys()].map((i) => device.publishAsync('d/x', JSON.stringify({ round, i }), { qos: 1 })),
    );
  }
  await waitFor(() => acked.length === 500, '500 PUBACKs from the agent', 20_000);
  expect(notStoredWhenAcked).toEqual([]);
});

it('never acks a message whose commit has not reached the disk: a WAL that cannot be synced holds the ack', async () => {
  const { agent, device, acked } = await rig();
  await device.publishAsync('d/x', '{"n":1}', { qos: 1 });
  await waitFor(() => acked.length === 1, 'the first PUBACK');
  // SQLite goes on writing to the unlinked file, but its sync (by name) now fails, as on a
  // disk that refuses to sync: the event is committed, never known to be on disk.
  rmSync(join(agent.dataDir, 'edgehook.db-wal'));
  void device.publishAsync('d/x', '{"n":2}', { qos: 1 }).catch(() => undefined);
  await waitFor(async () => (await agent.status()).outbox.received === 2, 'the second event to be committed');
  await waitFor(
    () => /cannot sync the outbox to disk; holding MQTT acks/.test(agent.output),
    'the sync error in the log',
  );
  await sleep(1500);
  expect(acked).toEqual(['{"n":1}']);
  expect((await agent.status()).mqtt.held).toBe(1);
});
