import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { OffsetClock } from '../../src/clock.js';
import { generateSecret } from '../../src/delivery/sign.js';
import { Receiver } from '../helpers/receiver.js';
import { ROOT, SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { sleep, waitFor } from '../helpers/net.js';
import { makePki } from '../helpers/tls.js';

/**
 * Delivery features real deployments need (README "Features for real deployments"), each against
 * real servers.
 */

let agents: Agent[] = [];
let closers: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const a of agents) await a.stop();
  for (const c of closers.reverse()) await c();
  agents = [];
  closers = [];
});

async function receiverWith(
  secrets: string[] = [SECRET],
  tls?: Parameters<Receiver['start']>[1],
): Promise<Receiver> {
  const r = await new Receiver(secrets).start(0, tls);
  closers.push(() => r.stop());
  return r;
}

async function agentWith(
  endpointYaml: string,
  opts: Parameters<typeof startAgent>[1] = {},
): Promise<{ agent: Agent; device: MqttClient }> {
  const agent = await startAgent(
    `agentId: gw
mqtt: { url: embedded, embedded: { port: 0 } }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints:
  - ${endpointYaml}
admin: { enabled: false }
`,
    { random: () => 0.1, ...opts },
  );
  agents.push(agent);
  const device = await mqtt.connectAsync(agent.broker!.url);
  closers.push(() => device.endAsync());
  return { agent, device };
}

async function publish(device: MqttClient, n: number): Promise<void> {
  await Promise.all(
    [...Array(n).keys()].map((i) => device.publishAsync('d/x', JSON.stringify({ i }), { qos: 1 })),
  );
}

const indexes = (r: Receiver) =>
  r.delivered.flatMap((x) =>
    x.json.type === 'batch'
      ? (x.json.data as { data: { i: number } }[]).map((e) => e.data.i)
      : [(x.json.data as { i: number }).i],
  );

describe('batching', () => {
  it('sends several events in one signed request, in order, in the batch wire format', async () => {
    const r = await receiverWith();
    const { device } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, batch: { maxEvents: 10, maxWaitMs: 300 } }`,
    );
    await publish(device, 25);
    await waitFor(() => indexes(r).length === 25 || r.badSignatures > 0, '25 events');
    // Over every request: one signed wrongly is answered 401 and never shows in `delivered`.
    expect(r.badSignatures, 'requests with a bad signature').toBe(0);
    expect(indexes(r)).toEqual([...Array(25).keys()]);
    expect(r.delivered.length).toBeLessThanOrEqual(5);
    const b = r.delivered[0]!;
    expect(b.id).toMatch(/^bat_[^.]+$/);
    expect(b.json).toMatchObject({ id: b.id, type: 'batch', agent: 'gw' });
    expect(Object.keys(b.json)).toEqual(['id', 'type', 'timestamp', 'agent', 'data']);
    const first = (b.json.data as { id: string; seq: number; type: string }[])[0]!;
    expect(first).toMatchObject({ type: 'dev.x', topic: 'd/x' });
    expect(first.id).toMatch(/^evt_/);
  });

  it('a batch retried after endpoint trouble keeps its webhook-id', async () => {
    const r = await receiverWith();
    r.respond = ({ n }) => (n === 1 ? { status: 503 } : { status: 200 });
    const { device } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, batch: { maxEvents: 5, maxWaitMs: 300 } }`,
    );
    await publish(device, 5);
    await waitFor(() => r.delivered.length === 1, 'the retried batch');
    await publish(device, 5);
    await waitFor(() => indexes(r).length === 10, 'all ten');
    expect(r.requests[1]!.id).toBe(r.requests[0]!.id);
    expect(r.requests[1]!.body).toBe(r.requests[0]!.body);
  });

  it('a batch refused for one poison event is split until that event is alone', async () => {
    const r = await receiverWith();
    r.respond = ({ body }) => {
      const j = JSON.parse(body);
      const events = j.type === 'batch' ? j.data : [j];
      return events.some((e: { data: { i: number } }) => e.data.i === 7)
        ? { status: 422, body: 'bad event 7' }
        : { status: 200 };
    };
    const { agent, device } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, batch: { maxEvents: 16, maxWaitMs: 300 }, retry: { schedule: [0.1] } }`,
    );
    await publish(device, 16);
    await waitFor(
      () => agent.status().outbox.failed === 1 && indexes(r).length === 15,
      'event 7 dead-lettered, the rest delivered',
      10_000,
    );
    expect(indexes(r).sort((a, b) => a - b)).toEqual([...Array(16).keys()].filter((i) => i !== 7));
    await waitFor(() => agent.status().outbox.delivered === 15, 'fifteen counted delivered', 3000);
  });
});

describe('transport', () => {
  it('gzip: Content-Encoding gzip, and the signature covers the uncompressed body', async () => {
    const r = await receiverWith();
    const { device } = await agentWith(`{ id: c, url: '${r.url}', secret: ${SECRET}, compress: gzip }`);
    await publish(device, 3);
    await waitFor(() => r.delivered.length === 3 || r.badSignatures > 0, 'three');
    // A signature over the compressed bytes fails verification: answered 401, counted here.
    expect(r.badSignatures, 'requests with a bad signature').toBe(0);
    expect(r.delivered.every((x) => x.headers['content-encoding'] === 'gzip')).toBe(true);
  });

  it('mutual TLS with a private CA: delivered with the client certificate, refused without', async () => {
    const pki = makePki(tempDir('edgehook-pki-'));
    const tls = {
      key: pki.read(pki.serverKey),
      cert: pki.read(pki.serverCert),
      ca: pki.read(pki.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    };
    const r = await receiverWith([SECRET], tls);
    const { device } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, tls: { ca: '${pki.caCert}', cert: '${pki.clientCert}', key: '${pki.clientKey}' } }`,
    );
    await publish(device, 2);
    await waitFor(() => r.delivered.length === 2, 'two over mTLS');

    const { agent: noCert, device: d2 } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, tls: { ca: '${pki.caCert}' } }`,
    );
    await publish(d2, 1);
    await waitFor(
      () => noCert.status().endpoints[0]!.state === 'backing-off',
      'refused without a client certificate',
    );
    expect(r.delivered.length).toBe(2);
    // Without the private CA the server certificate is not trusted.
    const { agent: noCa, device: d3 } = await agentWith(`{ id: c, url: '${r.url}', secret: ${SECRET} }`);
    await publish(d3, 1);
    await waitFor(
      () =>
        noCa.status().endpoints[0]!.lastError?.includes('CERT') ||
        noCa.status().endpoints[0]!.lastError?.includes('certificate'),
      'a certificate error',
    );
  });

  it('goes through the proxy named by HTTP_PROXY', async () => {
    const r = await receiverWith();
    const seen: string[] = [];
    const proxy: Server = createServer((req, res) => {
      seen.push(req.url ?? '');
      const target = new URL(req.url!);
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: req.method,
          headers: req.headers,
        },
        (ures) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          ures.pipe(res);
        },
      );
      req.pipe(up);
    });
    // undici tunnels through the proxy with CONNECT, as it would through squid.
    proxy.on('connect', (req, client, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = req.url!.split(':');
      const upstream = connect(Number(port), host!, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
    closers.push(() => new Promise((res) => proxy.close(res)));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    delete process.env.NO_PROXY;
    try {
      const { device } = await agentWith(`{ id: c, url: '${r.url}', secret: ${SECRET} }`);
      await publish(device, 2);
      await waitFor(() => r.delivered.length === 2, 'two via the proxy');
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    // One keep-alive tunnel (or absolute-URI requests) carried both deliveries.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.every((s) => s === `CONNECT 127.0.0.1:${r.port}` || s === r.url)).toBe(true);
  });

  it('rateLimitPerSec holds the request rate, also while draining a backlog', async () => {
    const r = await receiverWith();
    const { device } = await agentWith(
      `{ id: c, url: '${r.url}', secret: ${SECRET}, ordering: parallel, maxInFlight: 16, rateLimitPerSec: 5 }`,
    );
    await publish(device, 15);
    await waitFor(() => r.delivered.length === 15, 'fifteen', 10_000);
    const span = r.delivered[14]!.at - r.delivered[0]!.at;
    // A burst of 5, then 10 more at 5/s: about 2 s.
    expect(span).toBeGreaterThanOrEqual(1800);
  });
});

describe('signing and clock', () => {
  it('a whsk_ secret signs v1a (ed25519), verified with the whpk_ public key', async () => {
    const { secret, publicKey } = generateSecret('ed25519');
    const r = await receiverWith([publicKey!]);
    const { device } = await agentWith(`{ id: c, url: '${r.url}', secret: '${secret}' }`);
    await publish(device, 2);
    await waitFor(() => r.delivered.length === 2 || r.badSignatures > 0, 'two signed with ed25519');
    expect(r.badSignatures, 'requests with a bad signature').toBe(0);
    expect(r.delivered[0]!.headers['webhook-signature']).toMatch(/^v1a,/);
  });

  it('edgehook keygen --ed25519 prints a whsk_ secret and the whpk_ key that verifies it', async () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'bin/edgehook.js'), 'keygen', '--ed25519'], {
      encoding: 'utf8',
    });
    const secret = /secret: (whsk_\S+)/.exec(out)![1]!;
    const publicKey = /public key[^:]*: (whpk_\S+)/.exec(out)![1]!;
    const r = await receiverWith([publicKey]);
    const { device } = await agentWith(`{ id: c, url: '${r.url}', secret: '${secret}' }`);
    await publish(device, 1);
    await waitFor(
      () => r.delivered.length === 1 || r.badSignatures > 0,
      'verified with the printed public key',
    );
    expect(r.badSignatures, 'requests with a bad signature').toBe(0);
  });

  it('holds deliveries while the clock is implausible, and resumes when it is set', async () => {
    const clock = new OffsetClock(Date.UTC(2001, 0, 1) - Date.now());
    const r = await receiverWith();
    const { agent, device } = await agentWith(`{ id: c, url: '${r.url}', secret: ${SECRET} }`, { clock });
    await publish(device, 3);
    await waitFor(() => agent.status().endpoints[0]!.heldByClock, 'held by the clock');
    expect(agent.status().agent.clockPlausible).toBe(false);
    await sleep(1200);
    expect(r.requests.length).toBe(0);
    clock.advance(Date.now() - clock.now());
    await waitFor(() => r.delivered.length === 3, 'delivery once the clock is set', 5000);
    expect(agent.status().endpoints[0]!.heldByClock).toBe(false);
  });
});
