// The bare-bridge baseline: an mqtt.js subscriber (QoS 1, acked on arrival) that POSTs each
// message with undici, 64 requests in flight, the same Standard Webhooks envelope and signature
// as edgehook, and nothing else: no storage, no retries (a failed POST is counted and dropped).
// Started by bench/run.js as a program:
//   node bench/procs/bridge.js --mqtt URL --topic FILTER --url HOOK --secret whsec_… [--inflight 64]
// Prints "ready" on stdout once subscribed.
import { createHmac, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    mqtt: { type: 'string' },
    topic: { type: 'string' },
    url: { type: 'string' },
    secret: { type: 'string' },
    inflight: { type: 'string', default: '64' },
    'client-id': { type: 'string', default: 'bench-bridge' },
  },
});
const maxInFlight = Number(values.inflight);
const url = new URL(values.url);
const key = Buffer.from(values.secret.replace(/^whsec_/, ''), 'base64');
const pool = new Pool(url.origin, { connections: maxInFlight, keepAliveTimeout: 30_000 });

/** @type {{ topic: string, payload: Buffer }[]} */
let queue = [];
let head = 0;
let inFlight = 0;
let seq = 0;
let failures = 0;
/** mqtt.js parses the next packet only after this runs: holding it is the back-pressure. */
let heldCallback;
const HIGH_WATER = 1024;

function pump() {
  while (inFlight < maxInFlight && head < queue.length) {
    const m = queue[head++];
    inFlight++;
    void post(m).finally(() => {
      inFlight--;
      pump();
    });
  }
  if (head > 4096 && head * 2 > queue.length) {
    queue = queue.slice(head);
    head = 0;
  }
  if (heldCallback && queue.length - head < HIGH_WATER / 2) {
    const cb = heldCallback;
    heldCallback = undefined;
    cb();
  }
}

async function post(m) {
  const id = `evt_${randomBytes(15).toString('base64url')}`;
  const body =
    `{"id":"${id}","type":"bench.${m.topic.split('/').slice(1).join('.')}","timestamp":"${new Date().toISOString()}",` +
    `"agent":"bridge","seq":${++seq},"topic":${JSON.stringify(m.topic)},"data":${m.payload.toString('utf8')}}`;
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  try {
    const res = await pool.request({
      path: url.pathname,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1,${sig}`,
      },
      body,
    });
    await res.body.dump();
    if (res.statusCode >= 300) failures++;
  } catch {
    failures++;
  }
}

const client = mqtt.connect(values.mqtt, { clientId: values['client-id'], clean: true, protocolVersion: 4 });
client.handleMessage = (packet, cb) => {
  queue.push({ topic: packet.topic, payload: /** @type {Buffer} */ (packet.payload) });
  pump();
  if (queue.length - head >= HIGH_WATER) heldCallback = cb;
  else cb();
};
client.on('error', (err) => process.stderr.write(`bridge: ${err.message}\n`));
client.on('connect', async () => {
  await client.subscribeAsync(values.topic, { qos: 1 });
  process.stdout.write('ready\n');
});
const stop = () => {
  process.stderr.write(`bridge: stopping (${failures} failed posts)\n`);
  client.end(true);
  void pool.destroy();
  setTimeout(() => process.exit(0), 100).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
