// The webhook receiver: a keep-alive HTTP server on 127.0.0.1 that counts events, computes
// publish→receipt latency from the publish time inside each payload, checks seq order, and can
// answer 503 or go down (connection refused) on command. Forked by bench/run.js.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { nowUs, rpcServe, summarize } from '../lib/util.js';

const require = createRequire(import.meta.url);
/** @type {typeof import('standardwebhooks')} */
const { Webhook } = require('standardwebhooks');

let port = 0;
/** 'up' answers 200, '503' answers 503 (Retry-After absent), 'down' is not listening. */
let mode = 'down';
let secret = '';
let listening = false;
const sockets = new Set();
let stats = freshStats();
/**
 * Latencies of warm-up events since the last clearWarm (kept across reset): with the measured
 * ones they give the latency from the agent's first second on a path, not only after warm-up.
 */
let warmLatenciesUs = [];

function freshStats() {
  return {
    requests: 0,
    non2xx: 0,
    batches: 0,
    events: 0,
    warm: 0,
    firstAt: 0,
    lastAt: 0,
    latenciesUs: [],
    lastSeq: -1,
    outOfOrder: 0,
    duplicates: 0,
    ids: new Set(),
    signature: 'unchecked',
    upAt: 0,
    firstAfterUpAt: 0,
    badBodies: 0,
  };
}

const server = createServer(
  { keepAlive: true, keepAliveTimeout: 120_000, requestTimeout: 0, headersTimeout: 60_000 },
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = nowUs();
      stats.requests++;
      if (mode !== 'up') {
        stats.non2xx++;
        res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '11' });
        res.end('unavailable');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      record(body, req.headers, at);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
  },
);
server.maxRequestsPerSocket = 0;
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

function record(body, headers, at) {
  let msg;
  try {
    msg = JSON.parse(body);
  } catch {
    stats.badBodies++;
    return;
  }
  const events = msg.type === 'batch' && Array.isArray(msg.data) ? msg.data : [msg];
  if (msg.type === 'batch') stats.batches++;
  let counted = false;
  for (const ev of events) {
    const d = ev?.data;
    if (d?.k !== 'd') {
      stats.warm++;
      if (typeof d?.t === 'number') warmLatenciesUs.push(at - d.t);
      continue;
    }
    counted = true;
    stats.events++;
    if (stats.firstAt === 0) stats.firstAt = at;
    stats.lastAt = at;
    if (stats.upAt !== 0 && stats.firstAfterUpAt === 0) stats.firstAfterUpAt = at;
    stats.latenciesUs.push(at - d.t);
    if (typeof ev.seq === 'number') {
      if (ev.seq <= stats.lastSeq) stats.outOfOrder++;
      stats.lastSeq = Math.max(stats.lastSeq, ev.seq);
    }
    if (stats.ids.has(ev.id)) stats.duplicates++;
    else stats.ids.add(ev.id);
  }
  // One signature check per run of counted events: the agent must stay a valid Standard
  // Webhooks sender while it is being pushed.
  if (counted && stats.signature === 'unchecked' && secret) {
    try {
      new Webhook(secret).verify(body, {
        'webhook-id': String(headers['webhook-id']),
        'webhook-timestamp': String(headers['webhook-timestamp']),
        'webhook-signature': String(headers['webhook-signature']),
      });
      stats.signature = 'valid';
    } catch (err) {
      stats.signature = `INVALID (${err.message})`;
    }
  }
}

function listen() {
  if (listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      listening = true;
      port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
      resolve();
    });
  });
}

function goDown() {
  if (!listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    listening = false;
    for (const s of sockets) s.destroy();
  });
}

rpcServe({
  async start(args) {
    port = args.port ?? 0;
    secret = args.secret ?? '';
    await listen();
    mode = 'up';
    return { port };
  },
  /** 'up' | '503' | 'down' */
  async mode(args) {
    const next = args.mode;
    if (next === 'down') {
      mode = 'down';
      await goDown();
    } else {
      await listen();
      if (next === 'up' && mode !== 'up') stats.upAt = nowUs();
      mode = next;
    }
    return { mode, upAt: stats.upAt };
  },
  reset() {
    stats = freshStats();
    return true;
  },
  clearWarm() {
    warmLatenciesUs = [];
    return true;
  },
  stats(args) {
    const { latenciesUs, ids, ...rest } = stats;
    return {
      ...rest,
      latencyUs: args.latency ? summarize(latenciesUs) : undefined,
      latencyWithWarmUpUs: args.latency ? summarize(warmLatenciesUs.concat(latenciesUs)) : undefined,
      uniqueIds: ids.size,
      ...(args.raw ? { raw: latenciesUs } : {}),
    };
  },
  async stop() {
    await goDown();
    return true;
  },
});
