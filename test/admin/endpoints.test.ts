import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type {
  CreatedEndpoint,
  EndpointView,
  RotateResult,
  TestEventResult,
} from '../../src/admin/api-types.js';
import { OffsetClock } from '../../src/clock.js';
import { SECRET } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver, type Received } from '../helpers/receiver.js';
import { apiClient, startAgentWithFile } from './helpers.js';

let agent: Agent | undefined;
const receivers: Receiver[] = [];
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  for (const r of receivers.splice(0)) await r.stop();
});

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().start();
  receivers.push(r);
  return r;
}

const yaml = (endpoints = '') => `# the operator's own notes
agentId: ep-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/#', type: 'sensor' }
endpoints:${endpoints || ' []'}
admin: { port: 0 }
`;

function verifies(secret: string, r: Received): boolean {
  try {
    new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

describe('admin API: endpoints', () => {
  it('creates, reads, replaces and deletes endpoints; every problem comes back by field', async () => {
    const rx = await receiver();
    const started = await startAgentWithFile(yaml());
    agent = started.agent;
    const api = apiClient(agent);

    const bad = await api.post<{ code: string; fields: Record<string, string> }>('/api/endpoints', {
      url: 'ftp://nowhere',
      ordering: 'random',
      timeoutMs: 5,
      retry: { schedule: [5, -1] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('EDGEHOOK_ERR_VALIDATION');
    expect(Object.keys(bad.body.fields).sort()).toEqual([
      'id',
      'ordering',
      'retry.schedule[1]',
      'timeoutMs',
      'url',
    ]);
    expect(bad.body.fields.url).toMatch(/http/);
    expect(bad.body.fields.ordering).toMatch(/strict/);
    expect(bad.body.fields.id).toBe('is required');
    expect((await api.post('/api/endpoints', { id: 'x', url: rx.url, extra: 1 })).body).toMatchObject({
      fields: { extra: 'unknown key' },
    });
    expect(
      (await api.post('/api/endpoints', { id: 'x', url: rx.url, secret: 'whsec_a' })).body,
    ).toMatchObject({ fields: { secret: expect.stringMatching(/base64/) } });
    // Nothing invalid reached the file.
    expect(readFileSync(started.file, 'utf8')).not.toContain('ftp://');

    const created = await api.post<CreatedEndpoint>('/api/endpoints', {
      id: 'cloud',
      url: rx.url,
      types: ['sensor*'],
      headers: { 'X-Api-Key': 'k-123456789', 'X-Site': 'north' },
    });
    expect(created.status).toBe(201);
    expect(created.body.endpoint).toMatchObject({
      id: 'cloud',
      url: rx.url,
      types: ['sensor*'],
      ordering: 'strict',
      enabled: true,
      state: 'healthy',
      pending: 0,
    });
    expect(created.body.endpoint.headers).toEqual({ 'X-Api-Key': '••••••••', 'X-Site': 'north' });
    expect(created.body.endpoint.secrets).toEqual([
      { masked: `whsec_…${created.body.secret!.slice(-4)}`, kind: 'hmac' },
    ]);

    const dup = await api.post<{ fields: Record<string, string> }>('/api/endpoints', {
      id: 'cloud',
      url: rx.url,
    });
    expect(dup.status).toBe(400);
    expect(dup.body.fields.id).toMatch(/duplicate/);

    const list = await api.get<EndpointView[]>('/api/endpoints');
    expect(list.body.map((e) => e.id)).toEqual(['cloud']);

    // Replace: a masked header sent back keeps its value; the secret stays when not given.
    const replaced = await api.put<EndpointView>('/api/endpoints/cloud', {
      ...created.body.endpoint,
      url: `${rx.url}?v=2`,
      timeoutMs: 5000,
      secrets: undefined,
      state: undefined,
      pending: undefined,
    });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body).toMatchObject({ url: `${rx.url}?v=2`, timeoutMs: 5000 });
    expect(agent.config.endpoints[0]!.headers).toEqual({ 'X-Api-Key': 'k-123456789', 'X-Site': 'north' });
    expect(agent.config.endpoints[0]!.secrets).toEqual([created.body.secret]);
    expect(agent.config.endpoints[0]!.timeoutMs).toBe(5000);

    const rename = await api.put<{ fields: Record<string, string> }>('/api/endpoints/cloud', {
      id: 'other',
      url: rx.url,
    });
    expect(rename.status).toBe(400);
    expect(rename.body.fields.id).toMatch(/cannot be changed/);
    expect((await api.put('/api/endpoints/missing', { url: rx.url })).status).toBe(404);
    expect((await api.get('/api/endpoints/missing')).status).toBe(404);
    const badPut = await api.put<{ fields: Record<string, string> }>('/api/endpoints/cloud', {
      url: rx.url,
      maxInFlight: 0,
    });
    expect(badPut.status).toBe(400);
    expect(Object.keys(badPut.body.fields)).toEqual(['maxInFlight']);

    const file = readFileSync(started.file, 'utf8');
    expect(file).toContain("# the operator's own notes");
    expect(file).toContain(created.body.secret!);

    expect((await api.del('/api/endpoints/cloud')).status).toBe(204);
    expect((await api.get('/api/endpoints/cloud')).status).toBe(404);
    expect(agent.config.endpoints).toEqual([]);
    expect(readFileSync(started.file, 'utf8')).not.toContain('cloud');
    expect((await api.del('/api/endpoints/cloud')).status).toBe(404);
  });

  it('generates a whsec_ secret the receiver verifies, and sends a test event to that endpoint only', async () => {
    const rxA = await receiver();
    const rxB = await receiver();
    ({ agent } = await startAgentWithFile(yaml(`\n  - { id: other, url: '${rxB.url}', secret: ${SECRET} }`)));
    const api = apiClient(agent);
    const created = await api.post<CreatedEndpoint>('/api/endpoints', { id: 'fresh', url: rxA.url });
    const secret = created.body.secret!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);

    const test = await api.post<TestEventResult>('/api/endpoints/fresh/test');
    expect(test.status).toBe(202);
    expect(test.body.eventId).toMatch(/^evt_/);
    await waitFor(() => rxA.requests.length === 1, 'the test event');
    const got = rxA.requests[0]!;
    expect(verifies(secret, got)).toBe(true);
    expect(got.headers['webhook-id']).toBe(test.body.eventId);
    expect(got.json).toMatchObject({
      id: test.body.eventId,
      type: 'edgehook.test',
      seq: test.body.seq,
      agent: 'ep-test',
      data: { endpoint: 'fresh' },
    });
    await waitFor(
      async () =>
        (await api.get<{ items: { status: string }[] }>('/api/deliveries?endpoint=fresh')).body.items[0]
          ?.status === 'delivered',
      'delivered in the log',
    );
    expect(rxB.requests).toHaveLength(0);
    expect((await api.post('/api/endpoints/nope/test')).status).toBe(404);
  });

  it('rotates: both secrets sign during the window, the old one is removed from the file after it', async () => {
    const rx = await receiver();
    const clock = new OffsetClock();
    const started = await startAgentWithFile(
      yaml(
        `\n  # the old secret came from the environment once\n  - id: cloud\n    url: '${rx.url}'\n    secret: ${SECRET} # keep me`,
      ),
      { clock },
    );
    agent = started.agent;
    const api = apiClient(agent);
    const before = Date.now();
    const rotated = await api.post<RotateResult>('/api/endpoints/cloud/rotate', { windowHours: 2 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret;
    expect(fresh).toMatch(/^whsec_/);
    expect(rotated.body.previousExpiresAt).toBeGreaterThanOrEqual(before + 2 * 3_600_000);
    expect(rotated.body.previousExpiresAt).toBeLessThan(Date.now() + 2 * 3_600_000 + 1000);

    const view = (await api.get<EndpointView>('/api/endpoints/cloud')).body;
    expect(view.secrets).toEqual([
      { masked: `whsec_…${fresh.slice(-4)}`, kind: 'hmac' },
      { masked: `whsec_…${SECRET.slice(-4)}`, kind: 'hmac', expiresAt: rotated.body.previousExpiresAt },
    ]);

    await api.post('/api/endpoints/cloud/test');
    await waitFor(() => rx.requests.length === 1, 'a request signed by both');
    const first = rx.requests[0]!;
    expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(SECRET, first)).toBe(true);
    expect(verifies(fresh, first)).toBe(true);
    expect(readFileSync(started.file, 'utf8')).toContain('# the old secret came from the environment once');

    // Not yet: nothing expires.
    expect(await agent.configService!.expireSecrets()).toBe(0);
    clock.advance(2 * 3_600_000 + 1000);
    expect(await agent.configService!.expireSecrets()).toBe(1);
    const file = readFileSync(started.file, 'utf8');
    expect(file).not.toContain(SECRET);
    expect(file).toContain(fresh);
    expect(agent.config.endpoints[0]!.secrets).toEqual([fresh]);
    // Back to real time, so the receiver's timestamp tolerance accepts the next request.
    clock.advance(-(2 * 3_600_000 + 1000));

    await api.post('/api/endpoints/cloud/test');
    await waitFor(() => rx.requests.length === 2, 'a request signed by the new secret only');
    const second = rx.requests[1]!;
    expect(String(second.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifies(fresh, second)).toBe(true);
    expect(verifies(SECRET, second)).toBe(false);
  });
  it('a rotated-out secret keeps signing past its window while events from before the rotation wait', async () => {
    const rx = await receiver();
    rx.respond = () => ({ status: 503 });
    const clock = new OffsetClock();
    // Backoff jitter fixed low, so the backlog moves soon after the receiver recovers.
    const started = await startAgentWithFile(
      yaml(`\n  - id: cloud\n    url: '${rx.url}'\n    secret: ${SECRET}`),
      { clock, random: () => 0.05 },
    );
    agent = started.agent;
    const api = apiClient(agent);
    await api.post('/api/endpoints/cloud/test');
    await waitFor(() => rx.requests.length >= 1, 'the uplink is down: a failed attempt');
    expect((await api.post<RotateResult>('/api/endpoints/cloud/rotate', { windowHours: 1 })).status).toBe(
      200,
    );
    const pastWindow = 3_600_000 + 1000;
    clock.advance(pastWindow);
    // The window is over, but the event queued before the rotation is still undelivered.
    expect(await agent.configService!.expireSecrets()).toBe(0);
    clock.advance(-pastWindow);
    rx.respond = () => ({ status: 200 });
    await waitFor(() => rx.delivered.length === 1, 'the backlog delivered', 15_000);
    expect(verifies(SECRET, rx.delivered[0]!)).toBe(true);
    // The receiver has it; the agent's record of it is committed a moment later.
    await waitFor(() => agent!.outbox!.counts().delivered === 1, 'the delivery recorded');
    clock.advance(pastWindow);
    expect(await agent.configService!.expireSecrets()).toBe(1);
    clock.advance(-pastWindow);
    expect(agent.config.endpoints[0]!.secrets).toHaveLength(1);
    expect(agent.config.endpoints[0]!.secrets[0]).not.toBe(SECRET);
  });
});
