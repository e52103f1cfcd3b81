import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CERT_FILE, KEY_FILE } from '../../src/admin/admin-tls.js';
import { createAdminServer } from '../../src/admin/admin-server.js';
import type { Agent } from '../../src/agent/create-agent.js';
import { OffsetClock } from '../../src/clock.js';
import { isEdgehookError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { startAgent, tempDir } from '../helpers/agent.js';
import { makePki } from '../helpers/tls.js';

/**
 * The admin server across the LAN (README "Admin UI across the LAN"): HTTPS with a kept
 * self-signed certificate, no plain HTTP there, the Host check on 0.0.0.0 and the failed-login
 * limit, all through real TLS clients. Binding 0.0.0.0 is what makes the address non-loopback;
 * the tests still only connect to 127.0.0.1.
 */

const agents: Agent[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const lanYaml = (extra = '') => `
agentId: lan-01
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
admin: { host: 0.0.0.0, port: 0${extra} }
`;

async function start(yaml: string, dataDir = tempDir()): Promise<Agent> {
  dirs.push(dataDir);
  const agent = await startAgent(yaml, { dataDir });
  agents.push(agent);
  return agent;
}

function portOf(agent: Agent): number {
  return Number(new URL(agent.adminUrl!).port);
}

/** The certificate a real TLS handshake with 127.0.0.1:port is given. */
function servedCertificate(port: number): Promise<{ fingerprint256: string; pem: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate()!;
      socket.end();
      resolve({ fingerprint256: cert.fingerprint256, pem: cert.toString() });
    });
    socket.once('error', reject);
  });
}

describe('admin UI across the LAN', () => {
  it('serves HTTPS with a self-signed certificate kept in dataDir; its fingerprint is the one announced', async () => {
    const dataDir = tempDir();
    const agent = await start(lanYaml(), dataDir);
    expect(agent.adminUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const announced = agent.adminTls!.fingerprint256;
    expect(announced).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const served = await servedCertificate(portOf(agent));
    expect(served.fingerprint256).toBe(announced);
    expect(new X509Certificate(readFileSync(join(dataDir, CERT_FILE))).fingerprint256).toBe(announced);
    expect(statSync(join(dataDir, KEY_FILE)).mode & 0o077).toBe(0);

    // A client that trusts only this certificate (its own CA) gets through, with the token.
    const dispatcher = new UndiciAgent({ connect: { ca: served.pem } });
    const res = await undiciFetch(`${agent.adminUrl}/api/settings`, {
      headers: { authorization: `Bearer ${agent.adminToken}` },
      dispatcher,
    });
    expect(res.status).toBe(200);
    const settings = (await res.json()) as { admin: { https: boolean; fingerprint256: string } };
    expect(settings.admin).toMatchObject({ https: true, fingerprint256: announced });
    await dispatcher.close();
    // One that trusts the usual CAs refuses it: it is self-signed.
    await expect(undiciFetch(`${agent.adminUrl}/healthz`)).rejects.toThrow();

    // The next start serves the same certificate: a fingerprint people pinned stays right.
    await agent.stop();
    agents.splice(0);
    const again = await start(lanYaml(), dataDir);
    expect(again.adminTls!.fingerprint256).toBe(announced);
    expect(again.adminTls!.created).toBe(false);
    expect((await servedCertificate(portOf(again))).fingerprint256).toBe(announced);
  });

  it('refuses plain HTTP on a non-loopback binding, unless admin.insecureHttp allows it', async () => {
    const agent = await start(lanYaml());
    const port = portOf(agent);
    // The TLS server does not answer an HTTP request: nothing, and no token, crosses in clear.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    const insecure = await start(lanYaml(', insecureHttp: true'));
    expect(insecure.adminUrl).toMatch(/^http:\/\//);
    expect(insecure.adminTls).toBeUndefined();
    expect((await fetch(`${insecure.adminUrl}/healthz`)).status).toBe(200);

    // Loopback stays plain HTTP by default: nobody else can listen in there.
    const local = await start(lanYaml().replace('host: 0.0.0.0', 'host: 127.0.0.1'));
    expect(local.adminUrl).toMatch(/^http:\/\//);
  });

  it('rejects contradicting or unreadable TLS settings with errors that name them', async () => {
    const err = await startAgent(lanYaml(', insecureHttp: true, tls: { cert: a.pem, key: a.key }')).catch(
      (e: unknown) => e,
    );
    expect(isEdgehookError(err, 'EDGEHOOK_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as { details: string[] }).details.join('\n')).toMatch(/admin\.insecureHttp: .*contradict/);

    const missing = await startAgent(
      lanYaml(', tls: { cert: /nonexistent/a.pem, key: /nonexistent/a.key }'),
      {
        dataDir: tempDir(),
      },
    ).catch((e: unknown) => e);
    expect(isEdgehookError(missing, 'EDGEHOOK_ERR_ADMIN_TLS')).toBe(true);
    expect((missing as Error).message).toContain('/nonexistent/a.pem');
  });

  it('serves admin.tls when given, also on loopback', async () => {
    const dir = tempDir('edgehook-pki-');
    dirs.push(dir);
    const pki = makePki(dir);
    const agent = await start(
      lanYaml(`, tls: { cert: ${pki.serverCert}, key: ${pki.serverKey} }`).replace(
        'host: 0.0.0.0',
        'host: 127.0.0.1',
      ),
    );
    expect(agent.adminUrl).toMatch(/^https:/);
    const expected = new X509Certificate(readFileSync(pki.serverCert)).fingerprint256;
    expect(agent.adminTls).toMatchObject({ source: 'configured', fingerprint256: expected });
    const dispatcher = new UndiciAgent({ connect: { ca: readFileSync(pki.caCert) } });
    const res = await undiciFetch(`${agent.adminUrl}/healthz`, { dispatcher });
    expect(res.status).toBe(200);
    await dispatcher.close();
  });

  it("bound to 0.0.0.0, accepts the machine's own name and addresses, not a foreign name", async () => {
    const agent = await start(lanYaml());
    const port = portOf(agent);
    // The certificate is not what this test checks (undici would match it against each Host).
    const dispatcher = new UndiciAgent({ connect: { rejectUnauthorized: false } });
    // undici's request(): fetch() would not let a test set Host the way a browser on the LAN does.
    const ask = async (host: string) => {
      const res = await dispatcher.request({
        origin: agent.adminUrl!,
        path: '/api/status',
        method: 'GET',
        headers: { host, authorization: `Bearer ${agent.adminToken}` },
      });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await ask(`${hostname()}:${port}`)).toBe(200);
    expect(await ask(`${hostname()}.local:${port}`)).toBe(200);
    expect(await ask(`127.0.0.1:${port}`)).toBe(200);
    expect(await ask(`attacker.example:${port}`)).toBe(403);
    await dispatcher.close();
  });

  it('answers 429 with Retry-After once an address has failed too often, for every way of giving a token', async () => {
    const agent = await start(lanYaml());
    const served = await servedCertificate(portOf(agent));
    const dispatcher = new UndiciAgent({ connect: { ca: served.pem } });
    const get = (path: string, headers: Record<string, string> = {}) =>
      undiciFetch(`${agent.adminUrl}${path}`, { headers, dispatcher, redirect: 'manual' });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await get(`/login?token=wrong-${i}`)).status);
    for (let i = 0; i < 10; i++)
      statuses.push((await get('/api/status', { authorization: `Bearer wrong-${i}` })).status);
    expect(statuses).toEqual(Array(20).fill(401));
    const limited = await get('/login?token=wrong-again');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: 'EDGEHOOK_ERR_RATE_LIMITED' });
    // While limited, even the right token is not compared: guessing cannot go on.
    expect((await get('/api/status', { authorization: `Bearer ${agent.adminToken}` })).status).toBe(429);
    expect((await get('/api/status', { cookie: 'edgehook_session=wrong' })).status).toBe(429);
    // No token at all is not a failed login.
    expect((await get('/api/status')).status).toBe(401);
    await dispatcher.close();
  });

  it('limits per client address and lets an address try again once its bucket refills', async () => {
    const clock = new OffsetClock();
    const app = await createAdminServer({
      token: 'the-right-token-0123456789',
      host: '127.0.0.1',
      allowedHosts: [],
      logger: silentLogger(),
      status: () => ({}) as never,
      loginLimit: { burst: 3, refillMs: 10_000, clock },
    });
    const login = (token: string, remoteAddress: string) =>
      app.inject({ url: `/login?token=${token}`, headers: { host: '127.0.0.1' }, remoteAddress });
    for (let i = 0; i < 3; i++) expect((await login('bad', '192.0.2.7')).statusCode).toBe(401);
    const limited = await login('bad', '192.0.2.7');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('10');
    // Another address is not affected.
    expect((await login('the-right-token-0123456789', '192.0.2.8')).statusCode).toBe(303);
    clock.advance(10_000);
    expect((await login('the-right-token-0123456789', '192.0.2.7')).statusCode).toBe(303);
    await app.close();
  });
});
