import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { AgentProcess, SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';
import { compressed, DT, decode, encode, u64 } from '../ingest/sparkplug-fixture.js';

/**
 * Sparkplug B end to end: an edge node publishes protobuf payloads built from the schema, a
 * real HTTP receiver gets JSON. Names learnt from a BIRTH survive an agent restart.
 */

let agent: Agent | undefined;
let receiver: Receiver | undefined;
let mosq: Mosquitto | undefined;
const clients: MqttClient[] = [];
const procs: AgentProcess[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync();
  await agent?.stop();
  for (const p of procs.splice(0)) await p.cleanup();
  await receiver?.stop();
  await mosq?.cleanup();
  agent = undefined;
  receiver = undefined;
  mosq = undefined;
});

function yaml(receiverUrl: string, mqttPart: string): string {
  return `
agentId: gw-spb
${mqttPart}
subscriptions:
  - { topic: 'spBv1.0/#', qos: 1, type: 'spb.{1}', payload: sparkplug, sparkplug: { requestRebirth: true } }
endpoints:
  - { id: cloud, url: '${receiverUrl}', secret: ${SECRET} }
admin: { port: 0 }
`;
}

async function device(url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId: `edge-${Math.random().toString(16).slice(2)}` });
  clients.push(c);
  return c;
}

const BIRTHS = {
  node: encode({
    timestamp: 1700000000000,
    seq: 0,
    metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: 0 }],
  }),
  device: encode({
    timestamp: 1700000000500,
    seq: 1,
    metrics: [
      { name: 'Counter', alias: 1, datatype: DT.Int64, longValue: 0 },
      { name: 'Level', alias: 2, datatype: DT.Int8, intValue: 0 },
    ],
  }),
};
const DDATA = encode({
  timestamp: 1700000001000,
  seq: 2,
  metrics: [
    { alias: 1, timestamp: 1700000001000, longValue: u64(-9007199254740993n) },
    { alias: 2, intValue: 0xffffffff },
  ],
});

type Data = { messageType: string; metrics: { name: string | null; value: unknown }[] };

describe('Sparkplug B through the embedded broker', () => {
  it('resolves a DDATA after an agent restart between DBIRTH and DDATA, Int64 exact', async () => {
    receiver = await new Receiver([SECRET]).start();
    const dataDir = tempDir();
    const config = yaml(receiver.url, 'mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }');
    agent = await startAgent(config, { dataDir });
    let edge = await device(agent.broker!.url);
    await edge.publishAsync('spBv1.0/G1/NBIRTH/E1', BIRTHS.node, { qos: 1 });
    await edge.publishAsync('spBv1.0/G1/DBIRTH/E1/D1', BIRTHS.device, { qos: 1 });
    await waitFor(() => receiver!.delivered.length === 2, 'the two BIRTHs');

    await edge.endAsync();
    clients.length = 0;
    await agent.stop();
    agent = await startAgent(config, { dataDir });
    // GET /api/status lists the node and its device as the BIRTHs left them, across the restart.
    expect(agent.status().sparkplug).toEqual({
      nodes: [
        {
          group: 'G1',
          node: 'E1',
          online: true,
          birthAt: expect.any(Number),
          devices: [{ device: 'D1', online: true, birthAt: expect.any(Number) }],
        },
      ],
    });
    edge = await device(agent.broker!.url);
    await edge.publishAsync('spBv1.0/G1/DDATA/E1/D1', DDATA, { qos: 1 });
    // Compressed with GZIP, the same values again.
    const again = encode({ seq: 3, metrics: [{ alias: 1, longValue: u64(2n ** 53n + 1n) }] });
    await edge.publishAsync('spBv1.0/G1/DDATA/E1/D1', compressed(again, 'GZIP'), { qos: 1 });
    await waitFor(() => receiver!.delivered.length === 4, 'the two DDATA');

    const [, , ddata, gz] = receiver.delivered;
    expect(ddata!.verified).toBe(true);
    expect(ddata!.json).toMatchObject({ type: 'spb.G1.DDATA.E1.D1', topic: 'spBv1.0/G1/DDATA/E1/D1' });
    expect(ddata!.json.data).toEqual({
      messageType: 'DDATA',
      group: 'G1',
      node: 'E1',
      device: 'D1',
      timestamp: 1700000001000,
      seq: 2,
      metrics: [
        {
          name: 'Counter',
          alias: 1,
          datatype: 'Int64',
          value: '-9007199254740993',
          timestamp: 1700000001000,
          historical: false,
          transient: false,
        },
        {
          name: 'Level',
          alias: 2,
          datatype: 'Int8',
          value: -1,
          timestamp: null,
          historical: false,
          transient: false,
        },
      ],
    });
    // In the bytes the receiver got, not only after a JSON.parse.
    expect(ddata!.body).toContain('"value":"-9007199254740993"');
    expect((gz!.json.data as Data).metrics[0]).toMatchObject({ name: 'Counter', value: '9007199254740993' });
  }, 60_000);

  it('asks an edge node it never saw born for a Rebirth, over its own connection', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(
      yaml(receiver.url, 'mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }'),
    );
    const edge = await device(agent.broker!.url);
    const commands: { topic: string; payload: Buffer }[] = [];
    edge.on('message', (topic, payload) => commands.push({ topic, payload }));
    await edge.subscribeAsync('spBv1.0/G1/NCMD/#', { qos: 0 });
    await edge.publishAsync('spBv1.0/G1/NDATA/E7', encode({ seq: 9, metrics: [{ alias: 3, intValue: 1 }] }), {
      qos: 1,
    });
    await waitFor(() => commands.length === 1, 'a Rebirth NCMD');
    expect(commands[0]!.topic).toBe('spBv1.0/G1/NCMD/E7');
    expect(decode(commands[0]!.payload).metrics).toEqual([
      expect.objectContaining({ name: 'Node Control/Rebirth', booleanValue: true }),
    ]);
    // The agent's subscription covers commands too: its own request comes back as an event.
    await waitFor(() => receiver!.delivered.length === 2, 'the NDATA and the NCMD');
    const byType = Object.fromEntries(
      receiver.delivered.map((r) => [(r.json.data as Data).messageType, r.json.data as Data]),
    );
    expect(byType.NDATA!.metrics[0]).toMatchObject({ name: null, unresolved: true });
    expect(byType.NCMD!.metrics[0]).toMatchObject({ name: 'Node Control/Rebirth', value: true });
  }, 60_000);
});

describe('Sparkplug B through Mosquitto and the agent process', () => {
  it('decodes, survives a restart between BIRTH and DATA, asks for Rebirth, and rejects garbage', async () => {
    mosq = await startMosquitto();
    receiver = await new Receiver([SECRET]).start();
    const proc = new AgentProcess(
      tempDir(),
      yaml(receiver.url, `mqtt: { url: '${mosq.url}', clientId: gw-spb }`),
    );
    procs.push(proc);
    await proc.start();
    await waitFor(async () => (await proc.status()).mqtt.connected, 'the agent to connect');
    const edge = await device(mosq.url);
    const commands: string[] = [];
    edge.on('message', (topic) => commands.push(topic));
    await edge.subscribeAsync('spBv1.0/+/NCMD/#', { qos: 0 });
    await edge.publishAsync('spBv1.0/G1/NBIRTH/E1', BIRTHS.node, { qos: 1 });
    await edge.publishAsync('spBv1.0/G1/DBIRTH/E1/D1', BIRTHS.device, { qos: 1 });
    await waitFor(() => receiver!.delivered.length === 2, 'the two BIRTHs');

    expect(await proc.signal('SIGTERM')).toBe(0);
    // Published while the agent is away: its persistent session keeps it.
    await edge.publishAsync('spBv1.0/G1/DDATA/E1/D1', DDATA, { qos: 1 });
    await proc.start();
    await waitFor(() => receiver!.delivered.length === 3, 'the DDATA');
    const data = receiver.delivered[2]!.json.data as Data;
    expect(data.metrics.map((m) => [m.name, m.value])).toEqual([
      ['Counter', '-9007199254740993'],
      ['Level', -1],
    ]);

    await edge.publishAsync('spBv1.0/G1/DDATA/E1/D1', Buffer.from('not sparkplug at all'), { qos: 1 });
    await edge.publishAsync('spBv1.0/G2/NDATA/E5', encode({ seq: 1, metrics: [{ alias: 1, intValue: 1 }] }), {
      qos: 1,
    });
    await waitFor(() => commands.length === 1, 'a Rebirth NCMD through Mosquitto');
    expect(commands).toEqual(['spBv1.0/G2/NCMD/E5']);
    await waitFor(async () => (await proc.status()).outbox.rejected === 1, 'the garbage kept as rejected');
    expect(commands).toEqual(['spBv1.0/G2/NCMD/E5']);
  }, 120_000);
});
