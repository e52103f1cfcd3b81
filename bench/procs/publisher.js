// The MQTT publisher: QoS 1, 170-byte JSON payloads, either flat out (a window of outstanding
// QoS 1 publishes, so it is not the bottleneck) or at a fixed rate. Forked by bench/run.js.
import mqtt from 'mqtt';
import { makePayload, nowUs, rpcServe, sleep } from '../lib/util.js';

/**
 * @param {{ url: string, clientId: string, topic: string, mode: 'flat' | 'rate', count: number,
 *   rate?: number, window?: number, maxMs: number, kind?: 'd' | 'w', startIndex?: number,
 *   keys?: number }} a   keys: publish to `${topic}/${i % keys}` (that many topics) instead of `topic`
 */
async function run(a) {
  const client = mqtt.connect(a.url, {
    clientId: a.clientId,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  const kind = a.kind ?? 'd';
  const window = a.window ?? 1000;
  const deadline = Date.now() + a.maxMs;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  const startUs = nowUs();
  let lastAckUs = startUs;
  let done;
  const finished = new Promise((r) => (done = r));
  const onAck = (err) => {
    if (err) failed++;
    acked++;
    lastAckUs = nowUs();
    if (acked + failed >= a.count) done();
    else if (a.mode === 'flat') pump();
  };
  const publishOne = () => {
    const i = (a.startIndex ?? 0) + sent;
    client.publish(a.keys ? `${a.topic}/${i % a.keys}` : a.topic, makePayload(i, kind), { qos: 1 }, onAck);
    sent++;
  };
  const pump = () => {
    while (sent < a.count && sent - acked < window && Date.now() < deadline) publishOne();
  };
  if (a.mode === 'flat') {
    pump();
  } else {
    // Fixed rate: every millisecond or so, publish what is due by now.
    const rate = a.rate ?? 1000;
    void (async () => {
      while (sent < a.count && Date.now() < deadline) {
        const due = Math.min(a.count, Math.floor(((nowUs() - startUs) / 1e6) * rate) + 1);
        while (sent < due && sent - acked < 20_000) publishOne();
        await sleep(1);
      }
    })();
  }
  const timer = setTimeout(done, Math.max(0, deadline - Date.now()) + 5_000);
  await finished;
  clearTimeout(timer);
  const endUs = nowUs();
  await new Promise((r) => client.end(false, {}, () => r()));
  return {
    sent,
    acked,
    failed,
    startUs,
    endUs,
    lastAckUs,
    seconds: (lastAckUs - startUs) / 1e6,
    timedOut: acked < a.count,
  };
}

rpcServe({ run });
