import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type { AgentStatus, DeliveryEvent, RatesSample, TestEventResult } from '../../src/admin/api-types.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';
import { apiClient } from './helpers.js';

let agent: Agent | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await agent?.stop();
  await receiver?.stop();
  agent = undefined;
  receiver = undefined;
});

const yaml = (url: string) => `
agentId: live-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/+', type: 'sensor.{1}' }
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET} }
admin: { port: 0 }
`;

/** The value of one sample line of the Prometheus text, e.g. `name{a="b"} 3`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin API: metrics and the live stream', () => {
  it('/metrics has every metric README "Admin API" names, with values that agree with the outbox', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    await waitFor(() => agent!.status().mqtt.connected, 'the MQTT connection');
    const device = await mqtt.connectAsync(agent.broker!.url);
    await device.publishAsync('sensors/a', '{"v":1}', { qos: 1 });
    await device.publishAsync('sensors/b', '{"v":2}', { qos: 1 });
    await device.publishAsync('sensors/c', 'not json', { qos: 1 });
    await device.endAsync();
    await waitFor(() => agent!.status().outbox.delivered === 2, 'two delivered');

    const res = await api.get<string>('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = res.body;
    for (const name of [
      'edgehook_events_received_total',
      'edgehook_events_rejected_total',
      'edgehook_events_dropped_total',
      'edgehook_deliveries_total',
      'edgehook_delivery_duration_seconds',
      'edgehook_outbox_pending',
      'edgehook_outbox_bytes',
      'edgehook_mqtt_connected',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(sample(text, 'edgehook_events_received_total')).toBe(3);
    expect(sample(text, 'edgehook_events_rejected_total')).toBe(1);
    expect(sample(text, 'edgehook_events_dropped_total')).toBe(0);
    expect(sample(text, 'edgehook_deliveries_total{endpoint="cloud",outcome="delivered"}')).toBe(2);
    expect(sample(text, 'edgehook_delivery_duration_seconds_count{endpoint="cloud"}')).toBe(2);
    const seconds = sample(text, 'edgehook_delivery_duration_seconds_sum{endpoint="cloud"}')!;
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(10);
    expect(sample(text, 'edgehook_outbox_pending{endpoint="cloud"}')).toBe(0);
    expect(sample(text, 'edgehook_outbox_bytes')).toBe(agent.status().outbox.bytes);
    expect(sample(text, 'edgehook_outbox_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'edgehook_mqtt_connected')).toBe(1);
    expect(text).not.toMatch(/^process_|^nodejs_/m);
  });

  it('/api/stream sends status, delivery and rates events', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    const abort = new AbortController();
    const res = await fetch(`${agent.adminUrl}/api/stream`, {
      headers: { authorization: `Bearer ${agent.adminToken}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { event: string; data: unknown }[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body!) {
          buf += decoder.decode(chunk as Uint8Array, { stream: true });
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) });
          }
        }
      } catch {
        /* aborted */
      }
    })();

    const first = await waitFor(() => events.find((e) => e.event === 'status'), 'a status event');
    expect((first.data as AgentStatus).agent.id).toBe('live-test');
    const test = (await api.post<TestEventResult>('/api/endpoints/cloud/test')).body;
    const delivery = await waitFor(() => events.find((e) => e.event === 'delivery'), 'a delivery event');
    expect(delivery.data as DeliveryEvent).toMatchObject({
      endpointId: 'cloud',
      seq: test.seq,
      outcome: 'delivered',
      status: 200,
    });
    // The status follows the change: the delivered count goes up.
    await waitFor(
      () => events.some((e) => e.event === 'status' && (e.data as AgentStatus).outbox.delivered === 1),
      'a status event counting it',
    );
    const rates = await waitFor(() => events.find((e) => e.event === 'rates'), 'a rates event', 5000);
    const r = rates.data as RatesSample;
    expect(r.at).toBeGreaterThan(0);
    expect(r.inPerSec).toBeGreaterThanOrEqual(0);
    expect(r.outPerSec).toBeGreaterThanOrEqual(0);
    abort.abort();
    await reading;
    // A stopping agent is not held up by an open stream (or any other connection of the browser).
    const again = await fetch(`${agent.adminUrl}/api/stream`, {
      headers: { authorization: `Bearer ${agent.adminToken}` },
    });
    expect(again.status).toBe(200);
    const stopped = Date.now();
    await agent.stop();
    agent = undefined;
    expect(Date.now() - stopped).toBeLessThan(3000);
    await again.body?.cancel().catch(() => undefined);
  });
});
