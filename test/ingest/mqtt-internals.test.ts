import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/ingest/embedded-broker.js';
import { hookedIncomingStore, interceptSend, setReconnectPeriod } from '../../src/ingest/mqtt-internals.js';
import { silentLogger } from '../../src/log.js';
import { freePort, sleep, waitFor } from '../helpers/net.js';

/**
 * The contract between Edgehook's ack-after-commit path and mqtt.js internals
 * (src/ingest/mqtt-internals.ts), checked against the installed mqtt.js and a real broker.
 * When an mqtt.js upgrade changes one of them, the test of that internal fails by name.
 */

let broker: EmbeddedBroker | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await broker?.stop();
  broker = undefined;
});

async function startBroker(): Promise<string> {
  broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger() });
  await broker.start();
  return broker.url;
}

function track(c: MqttClient): MqttClient {
  clients.push(c);
  return c;
}

describe('mqtt.js internals the ack-after-commit path relies on', () => {
  it('client._sendPacket sends the PUBACK, and the next PUBLISH is handled only once its callback runs', async () => {
    const url = await startBroker();
    const handled: number[] = [];
    const heldAcks: { packet: Packet; cb: (() => void) | undefined }[] = [];
    const agent = track(mqtt.connect(url, { clientId: 'contract-1', clean: false, manualConnect: true }));
    agent.handleMessage = (packet, cb) => {
      handled.push(Number(String(packet.payload)));
      cb();
    };
    let send: ((p: Packet) => void) | undefined;
    send = interceptSend(agent, (packet, original, cb) => {
      if (packet.cmd === 'puback') {
        heldAcks.push({ packet, cb: cb as (() => void) | undefined });
        return;
      }
      original(packet, cb);
    });
    agent.connect();
    await waitFor(() => agent.connected, 'connected');
    await agent.subscribeAsync('c/#', { qos: 1 });
    const device = track(await mqtt.connectAsync(url));
    for (let i = 0; i < 3; i++) void device.publishAsync('c/x', String(i), { qos: 1 });
    await waitFor(() => heldAcks.length === 1, 'the first PUBACK to reach _sendPacket');
    await sleep(200);
    // While the PUBACK's callback has not run, mqtt.js handles no further packet.
    expect(handled).toEqual([0]);
    heldAcks[0]!.cb?.();
    send(heldAcks[0]!.packet);
    await waitFor(() => handled.length >= 2, 'the second message after the callback ran');
    for (let i = 1; i < 3; i++) {
      await waitFor(() => heldAcks.length > i, `PUBACK ${i}`);
      heldAcks[i]!.cb?.();
      send(heldAcks[i]!.packet);
    }
    await waitFor(() => handled.length === 3, 'all three');
    expect(handled).toEqual([0, 1, 2]);
  });

  it('incomingStore.put gets a QoS 2 PUBLISH before its PUBREC goes out, and incomingStore.get every PUBREL', async () => {
    const url = await startBroker();
    const order: string[] = [];
    const incomingStore = hookedIncomingStore({
      beforeQos2Stored: (p) => order.push(`stored ${(p as { messageId?: number }).messageId}`),
      onPubrel: (id) => order.push(`pubrel ${id}`),
    });
    const agent = track(
      mqtt.connect(url, { clientId: 'contract-2', clean: false, manualConnect: true, incomingStore }),
    );
    agent.handleMessage = (_p, cb) => cb();
    interceptSend(agent, (packet, original, cb) => {
      if (packet.cmd === 'pubrec') order.push(`pubrec ${packet.messageId}`);
      original(packet, cb);
    });
    agent.connect();
    await waitFor(() => agent.connected, 'connected');
    await agent.subscribeAsync('q2/#', { qos: 2 });
    const device = track(await mqtt.connectAsync(url));
    await device.publishAsync('q2/x', 'hello', { qos: 2 });
    await waitFor(() => order.some((o) => o.startsWith('pubrel')), 'the PUBREL');
    const id = order[0]!.split(' ')[1];
    expect(order).toEqual([`stored ${id}`, `pubrec ${id}`, `pubrel ${id}`]);
  });

  it('client.options.reconnectPeriod is read again each time a reconnect is scheduled', async () => {
    const port = await freePort(); // nothing listens there: every attempt fails at once
    const agent = track(
      mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 100, connectTimeout: 1_000 }),
    );
    agent.on('error', () => undefined);
    let reconnects = 0;
    agent.on('reconnect', () => {
      reconnects++;
      // Changed while running: the attempt after this one waits 60 s.
      setReconnectPeriod(agent, 60_000);
    });
    await waitFor(() => reconnects === 1, 'the first reconnect at 100 ms', 5_000);
    // Had mqtt.js kept the period of its options, a reconnect would come every 100 ms.
    await sleep(1_500);
    expect(reconnects).toBe(1);
  });
});
