// The ingest-ceiling baseline: an mqtt.js subscriber at QoS 1 that only counts what arrives.
// Forked by bench/run.js.
import mqtt from 'mqtt';
import { nowUs, rpcServe } from '../lib/util.js';

/** @type {import('mqtt').MqttClient | undefined} */
let client;
let count = 0;
let firstAt = 0;
let lastAt = 0;

rpcServe({
  async start(a) {
    client = mqtt.connect(a.url, {
      clientId: a.clientId,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    client.on('message', () => {
      const at = nowUs();
      if (count === 0) firstAt = at;
      lastAt = at;
      count++;
    });
    await new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    await client.subscribeAsync(a.topic, { qos: 1 });
    return true;
  },
  reset() {
    count = 0;
    firstAt = 0;
    lastAt = 0;
    return true;
  },
  stats() {
    return { count, firstAt, lastAt };
  },
  async stop() {
    if (client) await client.endAsync();
    client = undefined;
    return true;
  },
});
