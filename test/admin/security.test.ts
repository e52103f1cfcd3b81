import { networkInterfaces } from 'node:os';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';
import { apiClient, capturingLogger, rawRequest } from './helpers.js';

let agent: Agent | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await agent?.stop();
  await receiver?.stop();
  agent = undefined;
  receiver = undefined;
});

const yaml = (extra = '') => `
agentId: sec-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
admin: { port: 0 }
${extra}`;

function hostOf(url: string): string {
  return new URL(url).host;
}

describe('admin security (README "Admin API")', () => {
  it('refuses requests without the token or with a wrong one (401), every API route included', async () => {
    agent = await startAgent(yaml());
    const base = agent.adminUrl!;
    for (const path of [
      '/api/status',
      '/api/endpoints',
      '/api/subscriptions',
      '/api/settings',
      '/api/deliveries',
      '/api/events',
      '/api/stream',
      '/metrics',
    ]) {
      const none = await fetch(`${base}${path}`);
      expect(none.status, path).toBe(401);
      expect(await none.json()).toMatchObject({ code: 'EDGEHOOK_ERR_UNAUTHORIZED' });
      const wrong = await fetch(`${base}${path}`, {
        headers: { authorization: 'Bearer not-the-token-at-all' },
      });
      expect(wrong.status, path).toBe(401);
    }
    const post = await fetch(`${base}/api/endpoints`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x', url: 'http://127.0.0.1:1/' }),
    });
    expect(post.status).toBe(401);
    expect((await apiClient(agent).get('/api/endpoints')).status).toBe(200);
    // /healthz alone needs nothing.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('refuses a foreign Host (DNS rebinding) even with the token', async () => {
    agent = await startAgent(yaml());
    const res = await rawRequest(`${agent.adminUrl}/api/status`, {
      headers: { host: 'attacker.example:8787', authorization: `Bearer ${agent.adminToken}` },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'EDGEHOOK_ERR_HOST' });
  });

  it('/login sets an HttpOnly SameSite=Strict cookie; a same-origin cookie POST works, a foreign-Origin one is refused', async () => {
    agent = await startAgent(yaml());
    const base = agent.adminUrl!;
    const wrong = await rawRequest(`${base}/login?token=nope`);
    expect(wrong.status).toBe(401);
    const login = await rawRequest(agent.loginUrl!);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/^edgehook_session=/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;

    const get = await rawRequest(`${base}/api/subscriptions`, { headers: { cookie } });
    expect(get.status).toBe(200);

    const body = JSON.stringify({ topic: 'csrf/+' });
    const foreign = await rawRequest(`${base}/api/subscriptions`, {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/json' },
      body,
    });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ code: 'EDGEHOOK_ERR_ORIGIN' });
    expect(agent.config.subscriptions.map((s) => s.topic)).not.toContain('csrf/+');

    const same = await rawRequest(`${base}/api/subscriptions`, {
      method: 'POST',
      headers: { cookie, origin: base, 'content-type': 'application/json' },
      body,
    });
    expect(same.status).toBe(201);
    expect(agent.config.subscriptions.map((s) => s.topic)).toContain('csrf/+');
  });

  it('listening on all interfaces is never unauthenticated', async () => {
    agent = await startAgent(yaml().replace('admin: { port: 0 }', 'admin: { host: 0.0.0.0, port: 0 }'));
    const port = new URL(agent.adminUrl!).port;
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    // There it is HTTPS (README "Admin UI across the LAN"); its certificate names these addresses.
    const dispatcher = new UndiciAgent({ connect: { ca: agent.adminTls!.cert } });
    const get = (url: string, headers: Record<string, string> = {}) =>
      undiciFetch(url, { headers, dispatcher });
    for (const addr of ['127.0.0.1', ...(external ? [external] : [])]) {
      const url = `https://${addr}:${port}`;
      expect((await get(`${url}/api/status`)).status, addr).toBe(401);
      expect((await get(`${url}/api/endpoints`)).status, addr).toBe(401);
      expect((await get(`${url}/metrics`)).status, addr).toBe(401);
      const ok = await get(`${url}/api/status`, { authorization: `Bearer ${agent.adminToken}` });
      expect(ok.status, addr).toBe(200);
    }
    await dispatcher.close();
    expect(hostOf(agent.adminUrl!)).toBe(`127.0.0.1:${port}`);
  });

  it('keeps secrets out of listings and out of the log while creating, rotating and revealing', async () => {
    const { logger, text } = capturingLogger();
    receiver = await new Receiver().start();
    agent = await startAgent(
      yaml(`endpoints:
  - { id: given, url: '${receiver.url}', secret: ${SECRET}, headers: { Authorization: 'Bearer cloud-token-123456' } }`),
      { logger },
    );
    const api = apiClient(agent);
    const created = await api.post<{ secret: string }>('/api/endpoints', { id: 'made', url: receiver.url });
    expect(created.status).toBe(201);
    const generated = created.body.secret;
    expect(generated).toMatch(/^whsec_/);
    const rotated = await api.post<{ secret: string }>('/api/endpoints/given/rotate', { windowHours: 1 });
    expect(rotated.status).toBe(200);
    const secrets = [SECRET, generated, rotated.body.secret];

    const listing = JSON.stringify([
      (await api.get('/api/endpoints')).body,
      (await api.get('/api/endpoints/given')).body,
      (await api.get('/api/endpoints/made')).body,
      (await api.get('/api/settings')).body,
      (await api.get('/api/status')).body,
    ]);
    for (const s of secrets) expect(listing).not.toContain(s.slice(6));
    expect(listing).not.toContain('cloud-token-123456');
    expect(listing).toContain('whsec_…');

    const revealed = await api.post<{ secrets: string[] }>('/api/endpoints/given/secrets/reveal');
    expect(revealed.body.secrets).toEqual([rotated.body.secret, SECRET]);

    await api.post('/api/endpoints/given/test');
    await waitFor(() => receiver!.requests.length > 0, 'the test event');
    const log = text();
    expect(log).toContain('endpoint created');
    expect(log).toContain('signing secret rotated');
    expect(log).toContain('signing secrets revealed');
    for (const s of secrets) expect(log).not.toContain(s.slice(6));
    expect(log).not.toContain('cloud-token-123456');
    expect(log).not.toContain(agent.adminToken);
  });
});
