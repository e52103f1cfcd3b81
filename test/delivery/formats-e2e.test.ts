import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { Receiver, type Received } from '../helpers/receiver.js';
import { SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';

/**
 * Payload formats end to end (README "Payload formats and versioning"): MQTT in, the same events
 * out to endpoints pinned to each format, verified with standardwebhooks. Every body is also
 * checked against its format's JSON Schema by the Receiver (its stop() fails the test otherwise).
 */

let agents: Agent[] = [];
let receivers: Receiver[] = [];
afterEach(async () => {
  for (const a of agents) await a.stop();
  for (const r of receivers) await r.stop();
  agents = [];
  receivers = [];
});

async function receiver(): Promise<Receiver> {
  const r = await new Receiver([SECRET]).start();
  receivers.push(r);
  return r;
}

function yaml(endpoints: string): string {
  return `agentId: gw-01
mqtt: { url: embedded, embedded: { port: 0 } }
subscriptions:
  - { topic: 'sensors/+/t', qos: 1, type: 'sensor.{1}.t' }
  - { topic: 'raw/+', qos: 1, type: 'raw', payload: binary }
endpoints:
${endpoints}
admin: { enabled: false }
`;
}

async function start(endpoints: string, dataDir = tempDir()): Promise<Agent> {
  const agent = await startAgent(yaml(endpoints), { dataDir, random: () => 0.05 });
  agents.push(agent);
  return agent;
}

async function publish(agent: Agent, messages: [string, string | Buffer][]): Promise<void> {
  const device = await mqtt.connectAsync(agent.broker!.url);
  for (const [topic, payload] of messages) await device.publishAsync(topic, payload, { qos: 1 });
  await device.endAsync();
}

interface CloudEventJson {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: string;
  seq: number;
  data?: unknown;
  data_base64?: string;
}

const ce = (r: Received) => r.json as unknown as CloudEventJson;
const ceBatch = (r: Received) => JSON.parse(r.body) as CloudEventJson[];

describe('payload formats', () => {
  it('sends the same events as edgehook/1 and as CloudEvents, alone and batched, each signed over its raw body', async () => {
    const [eh, one, many] = [await receiver(), await receiver(), await receiver()];
    const agent = await start(`  - { id: eh, url: '${eh.url}', secret: ${SECRET} }
  - { id: one, url: '${one.url}', secret: ${SECRET}, format: cloudevents/1.0 }
  - { id: many, url: '${many.url}', secret: ${SECRET}, format: cloudevents/1.0, batch: { maxEvents: 3, maxWaitMs: 10000 } }`);
    await publish(agent, [
      ['sensors/kitchen/t', '{"c": 21.5, "big": 12345678901234567890}'],
      ['sensors/hall/t', '{"c": 19}'],
      ['raw/blob', Buffer.from([0, 255, 1])],
    ]);
    await waitFor(
      () => eh.delivered.length === 3 && one.delivered.length === 3 && many.delivered.length === 1,
      'every event at every endpoint',
    );
    for (const r of [...eh.requests, ...one.requests, ...many.requests]) {
      expect(r.verified).toBe(true);
      expect(r.schemaProblems).toEqual([]);
    }

    // edgehook/1: today's envelope, unchanged, and it says so.
    for (const r of eh.delivered) {
      expect(r.headers['webhook-format']).toBe('edgehook/1');
      expect(r.headers['content-type']).toBe('application/json');
      expect(Object.keys(r.json).slice(0, 7)).toEqual([
        'id',
        'type',
        'timestamp',
        'agent',
        'seq',
        'topic',
        'data',
      ]);
    }

    // cloudevents/1.0, structured mode: the same event ids, attributes from the same envelope.
    for (const [i, r] of one.delivered.entries()) {
      const e = eh.delivered[i]!.json;
      expect(r.headers['webhook-format']).toBe('cloudevents/1.0');
      expect(r.headers['content-type']).toBe('application/cloudevents+json');
      expect(ce(r)).toMatchObject({
        specversion: '1.0',
        id: e.id,
        source: 'edgehook://gw-01',
        type: e.type,
        subject: e.topic,
        time: e.timestamp,
        seq: e.seq,
      });
      expect(r.id).toBe(e.id);
    }
    const [kitchen, hall, blob] = one.delivered.map(ce);
    expect(kitchen).toMatchObject({ datacontenttype: 'application/json', data: { c: 21.5 } });
    // The payload's text is passed through: a number past 2^53 arrives with all its digits.
    expect(one.delivered[0]!.body).toContain('"data":{"c": 21.5, "big": 12345678901234567890}}');
    expect(hall!.data).toEqual({ c: 19 });
    expect(blob).toMatchObject({ datacontenttype: 'application/octet-stream', data_base64: 'AP8B' });
    expect(blob).not.toHaveProperty('data');

    // Batched: one JSON array under the batch id, the events as they are sent alone.
    const batch = many.delivered[0]!;
    expect(batch.headers['content-type']).toBe('application/cloudevents-batch+json');
    expect(batch.headers['webhook-format']).toBe('cloudevents/1.0');
    expect(batch.id).toMatch(/^bat_[^.]+$/);
    expect(ceBatch(batch)).toEqual(one.delivered.map(ce));
  });

  it('a retry and a restart keep the format, the webhook-id and the body', async () => {
    const [one, many] = [await receiver(), await receiver()];
    for (const r of [one, many]) r.respond = () => ({ status: 503 });
    const dataDir = tempDir();
    const endpoints = `  - { id: one, url: '${one.url}', secret: ${SECRET}, format: cloudevents/1.0, retry: { backoffMaxSeconds: 0.2 } }
  - { id: many, url: '${many.url}', secret: ${SECRET}, format: cloudevents/1.0, batch: { maxEvents: 2, maxWaitMs: 10000 }, retry: { backoffMaxSeconds: 0.2 } }`;
    const first = await start(endpoints, dataDir);
    await publish(first, [
      ['sensors/a/t', '{"i":1}'],
      ['sensors/b/t', '{"i":2}'],
    ]);
    await waitFor(
      () => one.requests.length >= 3 && many.requests.length >= 2,
      'refused attempts and retries',
    );
    await first.stop();
    agents = agents.filter((a) => a !== first);
    const refused = { one: [...one.requests], many: [...many.requests] };
    // Retries before the restart: the same id and bytes each time.
    const firstOne = refused.one.filter((r) => r.id === refused.one[0]!.id);
    expect(firstOne.length).toBeGreaterThanOrEqual(2);
    for (const r of firstOne) expect(r.body).toBe(firstOne[0]!.body);
    for (const r of refused.many)
      expect([r.id, r.body]).toEqual([refused.many[0]!.id, refused.many[0]!.body]);

    for (const r of [one, many]) r.respond = () => ({ status: 200 });
    await start(endpoints, dataDir);
    await waitFor(
      () => one.delivered.length === 2 && many.delivered.length === 1,
      'delivery after the restart',
    );
    expect(one.delivered[0]!.id).toBe(refused.one[0]!.id);
    expect(one.delivered[0]!.body).toBe(refused.one[0]!.body);
    expect(many.delivered[0]!.id).toBe(refused.many[0]!.id);
    expect(many.delivered[0]!.body).toBe(refused.many[0]!.body);
    for (const r of [...one.requests, ...many.requests]) {
      expect(r.headers['webhook-format']).toBe('cloudevents/1.0');
      expect(r.verified).toBe(true);
    }
  });
});
