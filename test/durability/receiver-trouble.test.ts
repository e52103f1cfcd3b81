import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { freePort, waitFor } from '../helpers/net.js';
import type { AgentStatus } from '../../src/agent/agent-status.js';
import { adminApi, Cleanup, device, publishPaced, rssKiB, tempDirIn } from './support/rig.js';
import { TroubleServer } from './support/trouble-server.js';

/**
 * Receiver trouble (README "Delivery"), each case against an agent started as a user
 * starts it, with two endpoints: `troubled`, whose receiver misbehaves, and `healthy`. Each
 * trouble must be handled by its policy (endpoint trouble: back off, one probe at a time, then
 * drain in order; message trouble: the delivery's own schedule, then dead letter; 410: disable)
 * and must never hold back the healthy endpoint.
 */

const N = 20;
let mosq: Mosquitto;
beforeAll(async () => {
  mosq = await startMosquitto();
});
afterAll(async () => {
  await mosq?.cleanup();
});
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Case {
  agent: AgentProcess;
  healthy: Receiver;
  topic: string;
  /** Publishes N events {i: from..from+N-1} on the case's topic. */
  publish: (from?: number) => Promise<void>;
  endpoint: (id: 'troubled' | 'healthy') => Promise<AgentStatus['endpoints'][number]>;
}

async function twoEndpoints(name: string, troubledUrl: string, troubledOptions = ''): Promise<Case> {
  const healthy = await new Receiver([SECRET]).start();
  cleanup.add(() => healthy.stop());
  const agent = new AgentProcess(
    tempDirIn(cleanup, `edgehook-dur-trouble-${name}-`),
    `agentId: gw-${name}
mqtt: { url: '${mosq.url}', clientId: edgehook-trouble-${name} }
subscriptions: [ { topic: 'case/${name}/#', qos: 1, type: 'case.{1}' } ]
endpoints:
  - { id: troubled, url: '${troubledUrl}', secret: ${SECRET}${troubledOptions ? `, ${troubledOptions}` : ''} }
  - { id: healthy, url: '${healthy.url}', secret: ${SECRET} }
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();
  const dev = await device(mosq.url, `device-trouble-${name}`, cleanup);
  let n = 0;
  await waitFor(
    async () => {
      await dev.publishAsync(`case/${name}/probe`, JSON.stringify({ probe: n++ }), { qos: 1 });
      // Any request shows the subscription, whatever its signature (asserted later, by name).
      return healthy.requests.some((r) => r.json.topic === `case/${name}/probe`);
    },
    'the agent to subscribe',
    20_000,
    250,
  );
  const topic = `case/${name}/x`;
  return {
    agent,
    healthy,
    topic,
    publish: (from = 0) =>
      publishPaced(dev, N, (i) => ({ topic, payload: JSON.stringify({ i: from + i }) }), { window: N }),
    endpoint: async (id) => (await agent.status()).endpoints.find((e) => e.id === id)!,
  };
}

const upTo = (n: number) => [...Array(n).keys()];

/** The healthy endpoint received the case's events 0..n-1, verified, in order. */
async function healthyGetsAll(c: Case, n = N): Promise<void> {
  const got = () => c.healthy.delivered.filter((r) => r.json.topic === c.topic);
  // A bad signature is answered 401 and never delivered: it ends the wait and fails here.
  await waitFor(
    () => got().length >= n || c.healthy.badSignatures > 0,
    `the healthy endpoint to receive all ${n}`,
    30_000,
    50,
  );
  expect(c.healthy.badSignatures, 'requests with a bad signature').toBe(0);
  expect(got().map((r) => (r.json.data as { i: number }).i)).toEqual(upTo(n));
}

/** The troubled receiver accepted the case's events 0..n-1, in order. */
async function troubledGetsAll(server: TroubleServer, c: Case, n = N): Promise<void> {
  const got = () => server.accepted.filter((r) => r.topic === c.topic);
  await waitFor(() => got().length >= n, `the troubled endpoint to receive all ${n}`, 30_000, 50);
  expect(got().map((r) => r.i)).toEqual(upTo(n));
  expect(server.requests.every((r) => r.verified)).toBe(true);
}

async function troubleServer(port = 0): Promise<TroubleServer> {
  const s = await new TroubleServer(SECRET).start(port);
  cleanup.add(() => s.stop());
  return s;
}

describe('receiver trouble, one troubled endpoint beside a healthy one', () => {
  it('connection refused: the endpoint backs off and probes; the healthy one goes on; everything drains in order once it listens', async () => {
    const port = await freePort();
    const c = await twoEndpoints('refused', `http://127.0.0.1:${port}/hooks`);
    await c.publish();
    await healthyGetsAll(c);
    const ep = await c.endpoint('troubled');
    expect(ep.state).toBe('backing-off');
    expect(ep.lastError).toMatch(/ECONNREFUSED/);
    expect(ep.pending).toBeGreaterThanOrEqual(N);
    const server = await troubleServer(port);
    await troubledGetsAll(server, c);
    await waitFor(
      async () => (await c.endpoint('troubled')).state === 'healthy',
      'the endpoint to be healthy again',
    );
  });

  it('a 503 storm: one probe at a time, backoff between probes, the healthy one goes on; then the backlog drains in order', async () => {
    const server = await troubleServer();
    let storm = true;
    server.behave = (_req, res) => res.writeHead(storm ? 503 : 200).end(storm ? 'overloaded' : '');
    const c = await twoEndpoints('storm', server.url, 'retry: { backoffMaxSeconds: 2 }');
    await c.publish();
    await healthyGetsAll(c);
    await waitFor(() => server.requests.length >= 4, 'a few probes during the storm', 20_000, 50);
    storm = false;
    const during = server.requests.filter((r) => !server.accepted.includes(r));
    // Only the head of the queue was tried, again and again, with the same webhook-id…
    expect(new Set(during.map((r) => r.id)).size).toBe(1);
    // …and backing off: a handful of probes, not a flood.
    const stormMs = during[during.length - 1]!.at - during[0]!.at;
    expect(during.length).toBeLessThanOrEqual(2 + stormMs / 250);
    expect((await c.endpoint('troubled')).lastError).toMatch(/503/);
    await troubledGetsAll(server, c);
    expect(server.accepted[0]!.id).toBe(during[0]!.id);
  });

  it('hanging past timeoutMs: the request is abandoned and retried with the same webhook-id; the healthy one goes on', async () => {
    const server = await troubleServer();
    server.behave = (req, res) => {
      if (req.n > 2) res.writeHead(200).end();
      // else: never answer (the socket is closed by the agent's timeout, or at cleanup)
    };
    const c = await twoEndpoints('hang', server.url, 'timeoutMs: 500');
    await c.publish();
    await healthyGetsAll(c);
    await troubledGetsAll(server, c);
    const [first, second, third] = server.requests;
    expect(second!.id).toBe(first!.id);
    expect(third!.id).toBe(first!.id);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(450);
    const attempts = await adminApi<{ attempts: { outcome: string; error: string | null }[] }>(
      c.agent,
      'GET',
      `/api/deliveries/troubled/${(JSON.parse(first!.body) as { seq: number }).seq}`,
    );
    expect(attempts.json.attempts.slice(0, 2)).toEqual([
      expect.objectContaining({ outcome: 'endpoint-trouble', error: expect.stringMatching(/TIMEOUT/) }),
      expect.objectContaining({ outcome: 'endpoint-trouble', error: expect.stringMatching(/TIMEOUT/) }),
    ]);
  });

  it('a slow-drip body after a 200 status line: the answer counts once timeoutMs is up, nothing is sent twice, the healthy one goes on', async () => {
    const server = await troubleServer();
    const drips: NodeJS.Timeout[] = [];
    cleanup.add(() => drips.forEach(clearInterval));
    server.behave = (req, res) => {
      if (req.n > 3) return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 100);
      drips.push(t);
      res.on('close', () => clearInterval(t));
    };
    const c = await twoEndpoints('drip', server.url, 'timeoutMs: 800');
    await c.publish();
    await healthyGetsAll(c);
    await troubledGetsAll(server, c);
    // Each drip was given up after timeoutMs and counted as delivered: no retry of those ids.
    expect(new Set(server.requests.map((r) => r.id)).size).toBe(server.requests.length);
    // The agent's 800 ms run from when it sent the first request, which the server may log some
    // tens of ms later on a loaded machine (744 ms was seen); far above the drip's 100 ms either way.
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(650);
  });

  it('a 3xx is message trouble: never followed, retried on its schedule, then a dead letter; order holds; the healthy one goes on', async () => {
    const elsewhere = await troubleServer();
    const server = await troubleServer();
    server.behave = (req, res) =>
      req.i === 3 ? res.writeHead(302, { location: elsewhere.url }).end() : res.writeHead(200).end();
    const c = await twoEndpoints('redirect', server.url, 'retry: { schedule: [0.2, 0.3] }');
    await c.publish();
    await healthyGetsAll(c);
    const got = () => server.accepted.filter((r) => r.topic === c.topic).map((r) => r.i);
    await waitFor(() => got().length >= N - 1, 'every other event at the troubled endpoint', 30_000, 50);
    expect(got()).toEqual(upTo(N).filter((i) => i !== 3));
    expect(elsewhere.requests).toEqual([]);
    const tries = server.requests.filter((r) => r.i === 3);
    expect(tries).toHaveLength(3); // the first attempt and the two of the schedule
    expect(new Set(tries.map((r) => r.id)).size).toBe(1);
    // Strict ordering: event 4 went only after event 3 was settled.
    expect(server.requests.find((r) => r.i === 4)!.at).toBeGreaterThanOrEqual(tries[2]!.at);
    await waitFor(async () => (await c.agent.status()).outbox.failed === 1, 'one dead letter');
    const failed = await adminApi<{ items: { endpointId: string; status: string; lastStatus: number }[] }>(
      c.agent,
      'GET',
      '/api/deliveries?endpoint=troubled&status=failed',
    );
    expect(failed.json.items).toEqual([
      expect.objectContaining({ endpointId: 'troubled', status: 'failed', lastStatus: 302 }),
    ]);
  });

  it('410 Gone disables the endpoint after one request; its events stay pending; the healthy one goes on; re-enabling drains them', async () => {
    const server = await troubleServer();
    let gone = true;
    server.behave = (_req, res) => res.writeHead(gone ? 410 : 200).end();
    const c = await twoEndpoints('gone', server.url);
    await c.publish();
    await healthyGetsAll(c);
    await waitFor(
      async () => (await c.endpoint('troubled')).state === 'disabled',
      'the endpoint to be disabled',
    );
    expect(server.requests).toHaveLength(1);
    const ep = await c.endpoint('troubled');
    expect(ep.pending).toBeGreaterThanOrEqual(N);
    expect((await c.agent.status()).outbox.pending).toBe(ep.pending);
    gone = false;
    // An operator saves the endpoint again (admin UI): that re-enables it.
    const saved = await adminApi(c.agent, 'PUT', '/api/endpoints/troubled', {
      url: server.url,
      secret: SECRET,
    });
    expect(saved.status).toBe(200);
    await troubledGetsAll(server, c);
  });

  it('429 with Retry-After in seconds: the endpoint waits that long, then sends the same webhook-id; the healthy one goes on', async () => {
    const server = await troubleServer();
    server.behave = (req, res) =>
      req.n === 1 ? res.writeHead(429, { 'retry-after': '3' }).end() : res.writeHead(200).end();
    const c = await twoEndpoints('retry-seconds', server.url);
    await c.publish();
    await healthyGetsAll(c);
    await troubledGetsAll(server, c);
    const [first, second] = server.requests;
    expect(second!.id).toBe(first!.id);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2950);
  });

  it('429 with Retry-After as an HTTP-date: the endpoint waits until then, then sends the same webhook-id; the healthy one goes on', async () => {
    const server = await troubleServer();
    let until = 0;
    server.behave = (req, res) => {
      if (req.n !== 1) return void res.writeHead(200).end();
      const date = new Date(Date.now() + 4000).toUTCString(); // IMF-fixdate, whole seconds
      until = Date.parse(date);
      res.writeHead(429, { 'retry-after': date }).end();
    };
    const c = await twoEndpoints('retry-date', server.url);
    await c.publish();
    await healthyGetsAll(c);
    await troubledGetsAll(server, c);
    const [first, second] = server.requests;
    expect(second!.id).toBe(first!.id);
    expect(until - first!.at).toBeGreaterThan(2900);
    expect(second!.at).toBeGreaterThanOrEqual(until - 50);
  });

  it('a 20 MB response body: not read, memory stays sane (VmRSS), the answer counts, the healthy one goes on', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 'x');
    const server = await troubleServer();
    let huge = false;
    let hugeAnswers = 0;
    server.behave = (_req, res) => {
      if (!huge) return void res.writeHead(200).end();
      // The first two answers are 503s, whose body feeds the attempt log.
      res.writeHead(++hugeAnswers <= 2 ? 503 : 200, {
        'content-type': 'text/plain',
        'content-length': String(big.length),
      });
      res.end(big);
    };
    // Eight answers at once: a sender that read bodies would hold 160 MiB or more.
    const c = await twoEndpoints(
      'huge',
      server.url,
      'ordering: parallel, maxInFlight: 8, retry: { backoffMaxSeconds: 1 }',
    );
    // Warm up with ordinary answers first, so the baseline is a running agent's, not a fresh one's.
    const accepted = () =>
      server.accepted
        .filter((r) => r.topic === c.topic)
        .map((r) => r.i!)
        .sort((a, b) => a - b);
    await c.publish();
    await healthyGetsAll(c);
    await waitFor(() => accepted().length >= N, 'the warm-up events at the troubled endpoint', 30_000, 50);
    const pid = c.agent.proc!.pid!;
    const baseline = rssKiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssKiB(pid));
      } catch {
        /* the process is gone: the assertions below say so */
      }
    }, 25);
    cleanup.add(() => clearInterval(sampler));
    huge = true;
    const firstHuge = server.requests.length;
    await c.publish(N);
    await healthyGetsAll(c, 2 * N);
    await waitFor(() => accepted().length >= 2 * N, 'every event at the troubled endpoint', 30_000, 50);
    expect(accepted()).toEqual(upTo(2 * N));
    clearInterval(sampler);
    expect(c.agent.proc!.exitCode).toBeNull();
    console.log(
      `[20 MB bodies] agent VmRSS ${Math.round(baseline / 1024)} MiB before, peak ${Math.round(peak / 1024)} MiB over ${hugeAnswers} answers of 20 MiB`,
    );
    // Reading the bodies would add 20 MiB per answer in flight (measured: over 200 MiB); not
    // reading them adds about 10 MiB of ordinary churn here.
    expect(peak - baseline).toBeLessThan(48 * 1024);
    // The attempt log keeps a snippet of a 503's body, not 20 MB of it.
    const seq = (JSON.parse(server.requests[firstHuge]!.body) as { seq: number }).seq;
    const detail = await adminApi<{ attempts: { status: number | null; response: string | null }[] }>(
      c.agent,
      'GET',
      `/api/deliveries/troubled/${seq}`,
    );
    expect(detail.json.attempts[0]).toMatchObject({ status: 503 });
    expect(detail.json.attempts[0]!.response!.length).toBeLessThanOrEqual(1024);
  });
});
