import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { Receiver } from '../helpers/receiver.js';
import { SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { freePort, sleep, waitFor } from '../helpers/net.js';

/**
 * The dispatcher against a real HTTP receiver (README "Delivery"): endpoint trouble backs the
 * endpoint off and then drains; message trouble follows the delivery's own schedule.
 */

let agents: Agent[] = [];
let receivers: Receiver[] = [];
let devices: MqttClient[] = [];
afterEach(async () => {
  for (const d of devices) await d.endAsync();
  for (const a of agents) await a.stop();
  for (const r of receivers) await r.stop();
  agents = [];
  receivers = [];
  devices = [];
});

function yaml(url: string, endpoint = ''): string {
  return `
agentId: gw
mqtt: { url: embedded, embedded: { port: 0 } }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET}${endpoint} }
admin: { enabled: false }
`;
}

async function setup(endpoint = '', opts: { random?: () => number; dataDir?: string; url?: string } = {}) {
  const receiver = await new Receiver([SECRET]).start();
  receivers.push(receiver);
  const agent = await startAgent(yaml(opts.url ?? receiver.url, endpoint), {
    random: opts.random ?? (() => 0.25),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
  });
  agents.push(agent);
  const device = await mqtt.connectAsync(agent.broker!.url);
  devices.push(device);
  const publish = async (n: number, from = 0) => {
    for (let i = from; i < from + n; i++) await device.publishAsync('d/x', JSON.stringify({ i }), { qos: 1 });
  };
  return { receiver, agent, device, publish };
}

const dataI = (r: { json: { data: unknown } }) => (r.json.data as { i: number }).i;

describe('endpoint trouble', () => {
  it('503 for a while, then 200: everything arrives, in order, moving within 2 s of recovery', async () => {
    // Jitter fixed at 20 % of the exponential step: after four 503s the next probe is due within
    // 1.6 s, so the first 200 must come within 2 s of the recovery.
    const { receiver, agent, publish } = await setup('', { random: () => 0.2 });
    let recoveredAt = 0;
    receiver.respond = () => (recoveredAt ? { status: 200 } : { status: 503 });
    await publish(100);
    await waitFor(() => receiver.requests.length >= 4, 'a few 503s');
    expect(agent.status().endpoints[0]!.state).toBe('backing-off');
    // One probe at a time while backing off: only the head event has been tried.
    expect(new Set(receiver.requests.map((r) => r.id)).size).toBe(1);
    recoveredAt = Date.now();
    await waitFor(() => receiver.delivered.length === 100, 'the backlog to drain', 15_000);
    const firstOk = receiver.delivered[0]!.at;
    expect(firstOk - recoveredAt).toBeLessThanOrEqual(2000);
    expect(receiver.delivered.map(dataI)).toEqual([...Array(100).keys()]);
    // The probe that failed and then succeeded kept its webhook-id.
    expect(receiver.delivered[0]!.id).toBe(receiver.requests[0]!.id);
    await waitFor(() => agent.status().outbox.delivered === 100, 'status delivered 100', 5000);
    expect(agent.status().endpoints[0]!.state).toBe('healthy');
  });

  it('connection refused: starts delivering within about 2 s of the receiver coming up', async () => {
    const port = await freePort();
    const { publish, receiver: unused } = await setup('', {
      url: `http://127.0.0.1:${port}/hooks`,
      random: () => 0.999,
    });
    await unused.stop();
    await publish(20);
    await sleep(5000); // long enough for the backoff to grow past its first steps
    const receiver = await new Receiver([SECRET]).start(port);
    receivers.push(receiver);
    const up = Date.now();
    await waitFor(() => receiver.delivered.length === 20, 'delivery after the receiver starts', 10_000);
    expect(receiver.delivered[0]!.at - up).toBeLessThanOrEqual(2500);
    expect(receiver.delivered.map(dataI)).toEqual([...Array(20).keys()]);
  });

  it('honours Retry-After on 429', async () => {
    const { receiver, publish } = await setup();
    receiver.respond = ({ n }) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    await publish(3);
    await waitFor(() => receiver.delivered.length === 3, 'three deliveries', 10_000);
    const [first, second] = receiver.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1950);
    expect(second!.id).toBe(first!.id);
  });

  it('a timeout is endpoint trouble: the request is abandoned and retried', async () => {
    const { receiver, publish } = await setup(', timeoutMs: 300');
    receiver.respond = ({ n }) => (n === 1 ? { status: 200, delayMs: 2000 } : { status: 200 });
    await publish(2);
    await waitFor(() => receiver.requests.length >= 3, 'the retry after the timeout', 10_000);
    expect(receiver.requests[1]!.id).toBe(receiver.requests[0]!.id);
    expect(receiver.requests[1]!.at - receiver.requests[0]!.at).toBeGreaterThanOrEqual(300);
  });

  it('410 Gone disables the endpoint; its events stay pending until it is re-enabled', async () => {
    const { receiver, agent, publish } = await setup();
    receiver.respond = () => ({ status: 410 });
    await publish(3);
    await waitFor(() => agent.status().endpoints[0]!.state === 'disabled', 'disabled', 5000);
    await sleep(1500);
    expect(receiver.requests.length).toBe(1);
    expect(agent.status().outbox.pending).toBe(3);
    receiver.respond = () => ({ status: 200 });
    agent.dispatcher!.queue('cloud')!.resume();
    await waitFor(() => receiver.delivered.length === 3, 'delivery after re-enabling', 5000);
  });
});

describe('message trouble', () => {
  it('strict: a 400 is retried on its schedule, then dead-lettered; order holds', async () => {
    const { receiver, agent, publish } = await setup(', retry: { schedule: [0.2, 0.3] }');
    receiver.respond = ({ body }) =>
      JSON.parse(body).data.i === 2 ? { status: 400, body: 'bad reading' } : { status: 200 };
    await publish(5);
    await waitFor(() => receiver.delivered.length === 4, 'the good four', 10_000);
    expect(receiver.requests.map(dataI)).toEqual([0, 1, 2, 2, 2, 3, 4]);
    expect(receiver.requests[3]!.at - receiver.requests[2]!.at).toBeGreaterThanOrEqual(190);
    await waitFor(() => agent.status().outbox.failed === 1, 'one failed', 5000);
    const attempts = agent
      .db!.prepare(`SELECT outcome, status, response FROM attempts WHERE event_seq = 3 ORDER BY id`)
      .all();
    expect(attempts).toEqual([
      { outcome: 'message-trouble', status: 400, response: 'bad reading' },
      { outcome: 'message-trouble', status: 400, response: 'bad reading' },
      { outcome: 'failed', status: 400, response: 'bad reading' },
    ]);
  });

  it('parallel: a message in retry does not hold back the others', async () => {
    const { receiver, agent, publish } = await setup(
      ', ordering: parallel, maxInFlight: 4, retry: { schedule: [1.5] }',
    );
    receiver.respond = ({ body, n }) =>
      JSON.parse(body).data.i === 0 && n < 3 ? { status: 422 } : { status: 200 };
    await publish(10);
    await waitFor(() => receiver.delivered.length === 9, 'the other nine', 5000);
    expect(receiver.delivered.map(dataI)).not.toContain(0);
    await waitFor(() => receiver.delivered.length === 10, 'the retried one', 10_000);
    expect(agent.status().endpoints[0]!.state).toBe('healthy');
  });

  it('a redirect is a failure, never followed', async () => {
    const target = await new Receiver([SECRET]).start();
    receivers.push(target);
    const { receiver, agent, publish } = await setup(', retry: { schedule: [0.1] }');
    receiver.respond = () => ({ status: 307, headers: { location: target.url } });
    await publish(1);
    await waitFor(() => agent.status().outbox.failed === 1, 'dead letter', 5000);
    expect(receiver.requests.length).toBe(2);
    expect(target.requests.length).toBe(0);
  });
});

describe('restarts', () => {
  it('events pending at shutdown go out after a restart with the same webhook-id', async () => {
    const dataDir = tempDir();
    const first = await setup('', { dataDir });
    first.receiver.respond = () => ({ status: 503 });
    await first.publish(5);
    await waitFor(() => first.receiver.requests.length >= 1, 'a failed attempt');
    const triedId = first.receiver.requests[0]!.id;
    await first.device.endAsync();
    devices = devices.filter((d) => d !== first.device);
    await first.agent.stop();
    agents = agents.filter((a) => a !== first.agent);

    const second = await setup('', { dataDir });
    await waitFor(() => second.receiver.delivered.length === 5, 'delivery after restart', 10_000);
    expect(second.receiver.delivered[0]!.id).toBe(triedId);
    expect(second.receiver.delivered.map(dataI)).toEqual([0, 1, 2, 3, 4]);
  });
});
