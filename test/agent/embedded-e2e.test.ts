import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { Receiver } from '../helpers/receiver.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';

let agent: Agent | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await agent?.stop();
  await receiver?.stop();
  agent = undefined;
  receiver = undefined;
});

function yaml(url: string, extra = ''): string {
  return `
agentId: gateway-01
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/+/temperature', qos: 1, type: 'sensor.{1}.temperature' }
  - { topic: 'logs/#', qos: 1, type: 'log.{1}', payload: text }
  - { topic: 'raw/+', qos: 1, type: 'raw', payload: binary }
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET} }
admin: { port: 0 }
${extra}`;
}

describe('embedded broker → outbox → signed webhook', () => {
  it('forwards device messages in the wire format, signed, in order, with seq growing', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const device = await mqtt.connectAsync(agent.broker!.url);
    for (let i = 0; i < 50; i++)
      await device.publishAsync('sensors/kitchen/temperature', JSON.stringify({ c: 20 + i / 10, i }), {
        qos: 1,
      });
    await device.publishAsync('logs/boot/stage', 'hello ✓', { qos: 1 });
    await device.publishAsync('raw/blob', Buffer.from([0, 255, 1]), { qos: 1 });
    await device.endAsync();
    // A request that fails verification is answered 401 and never counts as delivered: stop
    // waiting at the first one, so a broken signature fails here and not as a timeout.
    await waitFor(() => receiver!.delivered.length === 52 || receiver!.badSignatures > 0, '52 deliveries');
    expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);

    const got = receiver.delivered;
    const first = got[0]!;
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['user-agent']).toMatch(/^edgehook\/\d+\.\d+\.\d+/);
    expect(first.headers['webhook-id']).toMatch(/^evt_[^.]+$/);
    expect(first.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    expect(Math.abs(Number(first.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(first.json).toMatchObject({
      id: first.id,
      type: 'sensor.kitchen.temperature',
      agent: 'gateway-01',
      topic: 'sensors/kitchen/temperature',
      data: { c: 20, i: 0 },
    });
    expect(Object.keys(first.json)).toEqual(['id', 'type', 'timestamp', 'agent', 'seq', 'topic', 'data']);
    expect(new Date(first.json.timestamp).toISOString()).toBe(first.json.timestamp);

    const seqs = got.map((r) => r.json.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(52);
    expect(got.slice(0, 50).map((r) => (r.json.data as { i: number }).i)).toEqual([...Array(50).keys()]);
    expect(got[50]!.json).toMatchObject({ type: 'log.boot.stage', data: 'hello ✓' });
    expect(got[51]!.json).toMatchObject({
      type: 'raw',
      data: Buffer.from([0, 255, 1]).toString('base64'),
      encoding: 'base64',
    });

    await waitFor(() => agent!.status().outbox.delivered === 52, 'status to count 52 delivered', 5000);
    const st = agent.status();
    expect(st.mqtt.connected).toBe(true);
    expect(st.outbox).toMatchObject({
      received: 52,
      pending: 0,
      delivered: 52,
      failed: 0,
      rejected: 0,
      dropped: 0,
    });
    expect(st.endpoints).toEqual([expect.objectContaining({ id: 'cloud', state: 'healthy', pending: 0 })]);
  });

  it('keeps a payload that is not JSON as a rejected event, acks it, and goes on', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const device = await mqtt.connectAsync(agent.broker!.url);
    await device.publishAsync('sensors/a/temperature', 'twenty degrees', { qos: 1 });
    await device.publishAsync('sensors/a/temperature', Buffer.from([0xc3, 0x28]), { qos: 1 });
    await device.publishAsync('sensors/a/temperature', '', { qos: 1 });
    await device.publishAsync('sensors/a/temperature', '{"c":21}', { qos: 1 });
    await device.endAsync();
    await waitFor(() => receiver!.delivered.length === 1, 'the good event');
    await waitFor(() => agent!.status().outbox.rejected === 3, 'three rejected', 5000);
    expect(receiver.delivered[0]!.json.data).toEqual({ c: 21 });
    const rows = agent
      .db!.prepare(
        `SELECT state, reject_reason AS reason, payload FROM events WHERE state = 'rejected' ORDER BY seq`,
      )
      .all() as { reason: string; payload: Buffer }[];
    expect(rows.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^payload is not JSON/),
      expect.stringMatching(/not valid UTF-8/),
      expect.stringMatching(/empty/),
    ]);
    expect(rows[0]!.payload.toString()).toBe('twenty degrees');
  });
});
