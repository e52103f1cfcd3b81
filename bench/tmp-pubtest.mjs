import mqtt from 'mqtt';
import { makePayload } from './lib/util.js';
const N = Number(process.env.N ?? 50000), W = Number(process.argv[2] ?? 1000);
const c = mqtt.connect('mqtt://127.0.0.1:18830', { clientId: 'p'+Math.random(), clean: true });
await new Promise(r => c.once('connect', r));
let sent = 0, acked = 0; const t0 = performance.now();
await new Promise(res => {
  const pump = () => { while (sent < N && sent - acked < W) { c.publish('t/x', makePayload(sent, 'd'), { qos: 1 }, () => { acked++; if (acked === N) res(); else pump(); }); sent++; } };
  pump();
});
console.log('window', W, 'rate', Math.round(N / ((performance.now() - t0) / 1000)));
c.end();
