import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type {
  DeliveryDetail,
  DeliveryPage,
  EndpointView,
  RedeliverResult,
  RejectedEventPage,
  ReplayResult,
} from '../../src/admin/api-types.js';
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

const yaml = (url: string, endpointExtra = '', extra = '') => `
agentId: log-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/+', type: 'sensor.{1}' }
  - { topic: 'logs/+', type: 'log.{1}', payload: text }
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET}, retry: { schedule: [0.05] }${endpointExtra} }
${extra}
admin: { port: 0 }
`;

async function publish(a: Agent, messages: [string, string][]): Promise<void> {
  const device = await mqtt.connectAsync(a.broker!.url);
  for (const [topic, payload] of messages) await device.publishAsync(topic, payload, { qos: 1 });
  await device.endAsync();
}

function balanced(a: Agent): boolean {
  const c = a.status().outbox;
  return (
    c.received ===
    c.delivered + c.pending + c.failed + c.rejected + c.dropped + c.expired + c.deleted + c.unrouted
  );
}

describe('admin API: the delivery log and repairs', () => {
  it('shows a failing delivery with its attempts; retry sends it again once the receiver is fixed', async () => {
    receiver = await new Receiver([SECRET]).start();
    receiver.respond = () => ({ status: 400, body: '{"error":"unknown sensor"}' });
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    await publish(agent, [['sensors/kitchen', '{"c":21}']]);

    const failed = await waitFor(async () => {
      const page = (await api.get<DeliveryPage>('/api/deliveries?status=failed')).body;
      return page.items[0];
    }, 'a failed delivery in the log');
    expect(failed).toMatchObject({
      endpointId: 'cloud',
      type: 'sensor.kitchen',
      topic: 'sensors/kitchen',
      status: 'failed',
      attempts: 2,
      lastStatus: 400,
      nextAttemptAt: null,
    });
    expect(agent.status().outbox).toMatchObject({ failed: 1, pending: 0 });

    const detail = (await api.get<DeliveryDetail>(`/api/deliveries/cloud/${failed.seq}`)).body;
    expect(JSON.parse(detail.body)).toMatchObject({ id: failed.eventId, seq: failed.seq, data: { c: 21 } });
    expect(detail.attempts).toHaveLength(2);
    expect(detail.attempts.map((a) => a.outcome)).toEqual(['message-trouble', 'failed']);
    for (const a of detail.attempts) {
      expect(a).toMatchObject({ status: 400, error: null, response: '{"error":"unknown sensor"}' });
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
      expect(a.at).toBeGreaterThan(0);
    }

    receiver.respond = () => ({ status: 204 });
    const retried = await api.post<{ status: string }>(`/api/deliveries/cloud/${failed.seq}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.status).toBe('pending');
    await waitFor(() => receiver!.delivered.length === 1, 'the retried delivery');
    expect(receiver.delivered[0]!.id).toBe(failed.eventId);
    await waitFor(
      async () =>
        (await api.get<DeliveryDetail>(`/api/deliveries/cloud/${failed.seq}`)).body.delivery.status ===
        'delivered',
      'delivered in the log',
    );
    await waitFor(() => agent!.status().outbox.delivered === 1, 'counted delivered');
    expect(agent.status().outbox).toMatchObject({ failed: 0, pending: 0, delivered: 1 });
    expect(balanced(agent)).toBe(true);
    expect((await api.post('/api/deliveries/cloud/999/retry')).status).toBe(404);
  });

  it("shows a delivery's body exactly as sent, in the endpoint's format; a PUT without format keeps it", async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url, ', format: cloudevents/1.0'));
    const api = apiClient(agent);
    await publish(agent, [['sensors/kitchen', '{"c": 21.50, "n": 12345678901234567890}']]);
    const got = await waitFor(() => receiver!.delivered[0], 'the delivery');
    const seq = (got.json as { seq: number }).seq;
    const detail = (await api.get<DeliveryDetail>(`/api/deliveries/cloud/${seq}`)).body;
    expect(detail.format).toBe('cloudevents/1.0');
    expect(detail.contentType).toBe(got.headers['content-type']);
    expect(detail.body).toBe(got.body);

    const ep = (await api.get<EndpointView>('/api/endpoints/cloud')).body;
    expect(ep.format).toBe('cloudevents/1.0');
    const saved = await api.put<EndpointView>('/api/endpoints/cloud', {
      id: ep.id,
      url: ep.url,
      retry: ep.retry,
    });
    expect(saved.body.format).toBe('cloudevents/1.0');
  });

  it('replays a time range with the same webhook-ids, in order', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    const from = Date.now();
    await publish(agent, [
      ['sensors/a', '{"n":1}'],
      ['sensors/b', '{"n":2}'],
      ['sensors/c', '{"n":3}'],
    ]);
    await waitFor(() => receiver!.delivered.length === 3, 'three deliveries');
    await waitFor(() => agent!.status().outbox.delivered === 3, 'three counted');
    const firstIds = receiver.delivered.map((r) => r.id);
    // A first-try success has no row of its own in the attempt log, yet shows as its one attempt.
    const seq = (await api.get<DeliveryPage>('/api/deliveries')).body.items[0]!.seq;
    const attemptsOf = async () =>
      (await api.get<DeliveryDetail>(`/api/deliveries/cloud/${seq}`)).body.attempts;
    expect(await attemptsOf()).toEqual([
      {
        at: expect.any(Number),
        outcome: 'delivered',
        status: 200,
        durationMs: expect.any(Number),
        error: null,
        response: null,
      },
    ]);
    expect(agent.db!.prepare('SELECT count(*) FROM attempts').pluck().get()).toBe(0);

    const replay = await api.post<ReplayResult>('/api/endpoints/cloud/replay', { from, to: Date.now() });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ count: 3, unavailable: 0, tooOld: 0, oldestHeldAt: expect.any(Number) });
    expect(replay.body.oldestHeldAt).toBeGreaterThanOrEqual(from);
    await waitFor(() => receiver!.delivered.length === 6 || receiver!.badSignatures > 0, 'three more');
    expect(receiver.delivered.slice(3).map((r) => r.id)).toEqual(firstIds);
    // Over every request: a replay signed wrongly is answered 401 and never counts as delivered.
    expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
    await waitFor(
      () => agent!.status().outbox.pending === 0 && agent!.status().outbox.delivered === 3,
      'settled again',
    );
    expect(balanced(agent)).toBe(true);
    // Sent again: the first success moved into the log, beside the second.
    expect((await attemptsOf()).map((a) => [a.outcome, a.status])).toEqual([
      ['delivered', 200],
      ['delivered', 200],
    ]);

    const empty = await api.post<ReplayResult>('/api/endpoints/cloud/replay', { from: 0, to: from - 1 });
    expect(empty.body.count).toBe(0);

    // Pruned events (keepDeliveredHours) cannot be replayed; the answer says since when events are held.
    expect((await api.put('/api/settings', { storage: { keepDeliveredHours: 0 } })).status).toBe(200);
    expect(agent.outbox!.prune()).toBe(3);
    const later = Date.now();
    await publish(agent, [['sensors/d', '{"n":4}']]);
    await waitFor(() => receiver!.delivered.length === 7, 'the fourth');
    const partly = await api.post<ReplayResult>('/api/endpoints/cloud/replay', { from, to: Date.now() });
    expect(partly.body.count).toBe(1);
    expect(partly.body.oldestHeldAt).toBeGreaterThanOrEqual(later);
    const bad = await api.post<{ fields: Record<string, string> }>('/api/endpoints/cloud/replay', {
      from: 10,
      to: 'now',
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields)).toEqual(['to']);
  });

  it('deletes a failed delivery, counted as deleted; a delivered one cannot be', async () => {
    receiver = await new Receiver([SECRET]).start();
    receiver.respond = (req) => (req.body.includes('"bad"') ? { status: 422 } : { status: 200 });
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    const from = Date.now();
    await publish(agent, [
      ['sensors/w', '{"v":"good"}'],
      ['sensors/x', '{"v":"bad"}'],
      ['sensors/y', '{"v":"good"}'],
    ]);
    await waitFor(
      () => agent!.status().outbox.failed === 1 && agent!.status().outbox.delivered === 2,
      'one failed, two delivered',
      10_000,
    );
    const items = (await api.get<DeliveryPage>('/api/deliveries')).body.items;
    const bad = items.find((d) => d.status === 'failed')!;
    const good = items.find((d) => d.status === 'delivered')!;

    const conflict = await api.del<{ code: string }>(`/api/deliveries/cloud/${good.seq}`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('EDGEHOOK_ERR_CONFLICT');

    expect((await api.del(`/api/deliveries/cloud/${bad.seq}`)).status).toBe(204);
    expect(agent.status().outbox).toMatchObject({ failed: 0, deleted: 1, delivered: 2, pending: 0 });
    expect(balanced(agent)).toBe(true);
    expect((await api.get(`/api/deliveries/cloud/${bad.seq}`)).status).toBe(404);
    expect((await api.del(`/api/deliveries/cloud/${bad.seq}`)).status).toBe(404);
    // The deleted event is gone for good: a replay of the range says so.
    const replay = await api.post<ReplayResult>('/api/endpoints/cloud/replay', { from, to: Date.now() });
    expect(replay.body).toMatchObject({ count: 2, unavailable: 1 });
  });

  it('filters and pages the log without splitting an event across pages', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(
      yaml(receiver.url, '', `  - { id: backup, url: '${receiver.url}', secret: ${SECRET} }`).replace(
        'endpoints:\n',
        'endpoints:\n',
      ),
    );
    const api = apiClient(agent);
    await publish(agent, [
      ['sensors/a', '1'],
      ['logs/boot', 'up'],
      ['sensors/b', '2'],
      ['sensors/c', '3'],
      ['logs/net', 'ok'],
    ]);
    await waitFor(() => agent!.status().outbox.delivered === 5, 'all delivered');

    const all: string[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const page: DeliveryPage = (
        await api.get<DeliveryPage>(`/api/deliveries?limit=3${before ? `&before=${before}` : ''}`)
      ).body;
      pages++;
      const seqs = new Set(page.items.map((d) => d.seq));
      // Both endpoints' deliveries of a seq are on the same page.
      for (const s of seqs) expect(page.items.filter((d) => d.seq === s)).toHaveLength(2);
      all.push(...page.items.map((d) => `${d.seq}/${d.endpointId}`));
      before = page.nextBefore;
    } while (before !== null && pages < 10);
    expect(all).toHaveLength(10);
    expect(new Set(all).size).toBe(10);
    const seqOrder = all.map((k) => Number(k.split('/')[0]));
    expect(seqOrder).toEqual([...seqOrder].sort((a, b) => b - a));

    const logs = (await api.get<DeliveryPage>('/api/deliveries?type=log.*&endpoint=backup')).body.items;
    expect(logs.map((d) => d.type)).toEqual(['log.net', 'log.boot']);
    const bad = await api.get<{ fields: Record<string, string> }>('/api/deliveries?status=lost&limit=x');
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['limit', 'status']);
  });

  it('lists rejected events with their reason and redelivers one (payload as base64)', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const api = apiClient(agent);
    await publish(agent, [['sensors/kitchen', 'twenty-one degrees']]);
    await waitFor(() => agent!.status().outbox.rejected === 1, 'one rejected');

    const page = (await api.get<RejectedEventPage>('/api/events?state=rejected')).body;
    expect(page.nextBefore).toBeNull();
    expect(page.items).toHaveLength(1);
    const ev = page.items[0]!;
    expect(ev).toMatchObject({
      topic: 'sensors/kitchen',
      type: 'sensor.kitchen',
      preview: 'twenty-one degrees',
    });
    expect(ev.reason).toMatch(/JSON/i);

    const redelivered = await api.post<RedeliverResult>(`/api/events/${ev.seq}/redeliver`);
    expect(redelivered.status).toBe(202);
    expect(redelivered.body.endpoints).toEqual(['cloud']);
    await waitFor(() => receiver!.delivered.length === 1, 'the redelivered event');
    const got = receiver.delivered[0]!;
    expect(got.id).toBe(ev.eventId);
    expect(got.json).toMatchObject({
      type: 'sensor.kitchen',
      encoding: 'base64',
      data: Buffer.from('twenty-one degrees').toString('base64'),
    });
    await waitFor(() => agent!.status().outbox.delivered === 1, 'counted delivered');
    expect(agent.status().outbox).toMatchObject({ rejected: 0, delivered: 1 });
    expect(balanced(agent)).toBe(true);
    expect((await api.get<RejectedEventPage>('/api/events')).body.items).toEqual([]);
    expect((await api.post(`/api/events/${ev.seq}/redeliver`)).status).toBe(404);
  });
});
