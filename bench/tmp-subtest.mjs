import mqtt from 'mqtt';
const c = mqtt.connect('mqtt://127.0.0.1:18830', { clientId: 'sub1', clean: true });
let n = 0, t0 = 0;
c.on('message', () => { if (n++ === 0) t0 = performance.now(); if (n === Number(process.env.N ?? 50000)) { console.log('sub rate', Math.round(n / ((performance.now() - t0) / 1000))); process.exit(0); } });
await new Promise(r => c.once('connect', r));
await c.subscribeAsync('t/#', { qos: 1 });
console.log('subscribed');
