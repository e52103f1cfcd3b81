import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointSchema, resolveEndpoint } from '../../src/config/schema.js';
import { HttpSender, SNIPPET_BYTES } from '../../src/delivery/http-sender.js';
import { silentLogger } from '../../src/log.js';

// The HTTP sender against a real server on 127.0.0.1 (README "Delivery"): what it reports for
// each kind of answer, and how far it reads a body.

let servers: Server[] = [];
let senders: HttpSender[] = [];
afterEach(async () => {
  for (const s of senders) await s.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
  senders = [];
});

async function serve(answer: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks?v=1`;
}

function sender(url: string, timeoutMs = 5000): HttpSender {
  const ep = resolveEndpoint(endpointSchema.parse({ url, timeoutMs }), 0);
  const s = new HttpSender(ep, silentLogger());
  senders.push(s);
  return s;
}

describe('HttpSender', () => {
  it('a 2xx: the status, no snippet, and the connection is kept for the next request', async () => {
    let sockets = 0;
    const url = await serve((res) => res.writeHead(202).end('accepted, thanks'));
    servers[0]!.on('connection', () => sockets++);
    const s = sender(url);
    for (let i = 0; i < 3; i++)
      expect(await s.send('{}', {})).toMatchObject({
        kind: 'response',
        status: 202,
        snippet: '',
        retryAfter: null,
      });
    expect(sockets).toBe(1);
  });

  it('a refusal: the status, Retry-After and the first bytes of its body', async () => {
    const url = await serve((res) =>
      res.writeHead(503, { 'Retry-After': '7' }).end(`busy ${'x'.repeat(5000)}`),
    );
    const r = await sender(url).send('{}', {});
    expect(r).toMatchObject({ kind: 'response', status: 503, retryAfter: '7' });
    const snippet = (r as { snippet: string }).snippet;
    expect(snippet.startsWith('busy xxx')).toBe(true);
    expect(snippet.length).toBe(SNIPPET_BYTES);
  });

  it('a body still dripping in at timeoutMs: given up then, and the status line counts', async () => {
    const drips: NodeJS.Timeout[] = [];
    const url = await serve((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      // A byte every 20 ms never lets an idle timeout fire: only a deadline ends it.
      const t = setInterval(() => res.write('.'), 20);
      drips.push(t);
      res.on('close', () => clearInterval(t));
    });
    try {
      const started = performance.now();
      const r = await sender(url, 400).send('{}', {});
      const took = performance.now() - started;
      expect(r).toMatchObject({ kind: 'response', status: 200 });
      expect(took).toBeGreaterThanOrEqual(380);
      expect(took).toBeLessThan(1500);
    } finally {
      for (const t of drips) clearInterval(t);
    }
  });

  it('nobody listening: an error with its code, no status', async () => {
    const url = await serve(() => undefined);
    const s = servers.pop()!;
    await new Promise((r) => s.close(r));
    expect(await sender(url).send('{}', {})).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });
});
