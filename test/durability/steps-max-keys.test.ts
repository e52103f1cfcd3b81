import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { buildCrashAtAck } from '../helpers/crash-at-ack.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';
import {
  Cleanup,
  device,
  integrityCheck,
  publishPaced,
  tempDirIn,
  waitWithProgress,
  waitSubscribed,
} from './support/rig.js';

/**
 * Step state is bounded (README, "Edge processing", processing.maxKeys): past it the least
 * recently used key is flushed — an open window is emitted early — and counted as evicted, and
 * the agent says so in its log once. Through a real Mosquitto and the agent started as a user
 * starts it: hour-long windows over more meters than maxKeys allows, so an eviction is the only
 * way a window is emitted; deadbands over more tanks, whose readings never move, so a tank is
 * reported again only when its key was evicted. Half-way the agent dies right after sending a
 * PUBACK (test/helpers/crash-at-ack.c): what was in state then is evicted (and emitted) by the
 * next run.
 */

const MAX_KEYS = 5;
const METERS = 12;
const TANKS = 6;
const ROUNDS = 3;
const PER_VISIT = 4;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Window {
  count: number;
  min: number;
  max: number;
  avg: number;
  from: string;
}

it('processing.maxKeys: evicted windows are emitted (counts sum to the messages, none twice), evictions counted in status and /metrics, logged once', async () => {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const dir = tempDirIn(cleanup, 'edgehook-dur-maxkeys-');
  const agent = new AgentProcess(
    dir,
    `agentId: gw-maxkeys
mqtt: { url: '${mosq.url}', clientId: edgehook-maxkeys }
processing: { maxKeys: ${MAX_KEYS} }
subscriptions:
  - topic: meter/+
    qos: 1
    type: meter.{1}
    key: "{1}"
    steps:
      - window: { seconds: 3600, path: v }
  - topic: tank/+
    qos: 1
    type: tank.{1}
    key: "{1}"
    steps:
      - deadband: { path: level, by: 1 }
  - { topic: probe, qos: 1, type: probe }
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET}, ordering: parallel } ]
admin: { port: 0 }
`,
  );
  const crash = buildCrashAtAck();
  cleanup.add(() => crash.cleanup());
  agent.env = crash.env;
  cleanup.add(() => agent.kill());
  await agent.start();

  const dev = await device(mosq.url, 'device-maxkeys', cleanup);
  await waitSubscribed(dev, receiver, 'probe');

  // Rounds over every meter (a few readings each) with a tank reading between meters: each
  // visit finds its key evicted since the last one (more than maxKeys others came between).
  // At the end, readings of fresh tanks push the last meters out too.
  const plan: { topic: string; payload: string }[] = [];
  let n = 0;
  for (let r = 0; r < ROUNDS; r++)
    for (let m = 0; m < METERS; m++) {
      for (let k = 0; k < PER_VISIT; k++)
        plan.push({ topic: `meter/m${m}`, payload: JSON.stringify({ v: ++n }) });
      plan.push({ topic: `tank/t${m % TANKS}`, payload: JSON.stringify({ level: 50 }) });
    }
  for (let t = 0; t < MAX_KEYS; t++)
    plan.push({ topic: `tank/fresh${t}`, payload: JSON.stringify({ level: 50 }) });
  const meterReadings = ROUNDS * METERS * PER_VISIT;
  const tankReadings = plan.length - meterReadings;
  // One outstanding publish at a time. "Least recently used" is to the millisecond (a commit's
  // time), so with only five keys a key can be flushed between two readings of one visit: a
  // visit may come as more than one window, which changes no count below.
  // Half-way, a crash: the keys in state then (open windows among them) are evicted by the
  // next run, from what SQLite holds.
  const half = Math.floor(plan.length / 2);
  await publishPaced(dev, half - 1, (i) => plan[i]!, { window: 1 });
  await waitFor(
    async () =>
      (await agent.status()).subscriptions.slice(0, 2).reduce((sum, s) => sum + s.counts.messages, 0) >=
      half - 1,
    `the agent to take in the first ${half - 1} readings`,
    10_000,
    50,
  );
  // Killed right after the PUBACK of the next reading: whatever it had not stored by then is lost.
  crash.arm();
  await dev.publishAsync(plan[half - 1]!.topic, plan[half - 1]!.payload, { qos: 1 });
  await crash.crashed(agent.proc!);
  expect(crash.fired(), 'the agent died right after a PUBACK').toBe(true);
  const firstRunLog = agent.output;
  await agent.start();
  await publishPaced(dev, plan.length - half, (i) => plan[half + i]!, { window: 1 });

  const firstById = () => {
    const byId = new Map<string, (typeof receiver.delivered)[number]>();
    for (const r of receiver.delivered) if (!byId.has(r.id)) byId.set(r.id, r);
    return [...byId.values()];
  };
  const windows = () => firstById().filter((r) => r.json.type.startsWith('meter.'));
  const counted = () => windows().reduce((sum, r) => sum + (r.json.data as Window).count, 0);
  await waitWithProgress(
    () => counted() >= meterReadings,
    counted,
    `windows counting all ${meterReadings} meter readings`,
    {
      stallMs: 15_000,
      timeoutMs: 60_000,
    },
  );
  await waitFor(async () => (await agent.status()).outbox.pending === 0, 'the outbox to settle', 20_000, 100);
  expect(receiver.delivered.every((r) => r.verified)).toBe(true);

  // Nothing lost, nothing twice: the flushed windows hold every reading exactly once, per meter.
  expect(counted()).toBe(meterReadings);
  const perMeter = new Map<string, number[]>();
  for (const w of windows()) {
    const list = perMeter.get(w.json.type) ?? [];
    perMeter.set(w.json.type, list);
    const d = w.json.data as Window;
    // The readings of a visit are consecutive numbers: min..max covers `count` of them.
    expect(d.max - d.min + 1, `${w.json.type} ${JSON.stringify(d)}`).toBe(d.count);
    for (let v = d.min; v <= d.max; v++) list.push(v);
  }
  expect(perMeter.size).toBe(METERS);
  const seen = [...perMeter.values()].flat().sort((a, b) => a - b);
  expect(seen).toEqual(Array.from({ length: meterReadings }, (_, i) => i + 1));

  // Counted: in GET /api/status and /metrics, per subscription.
  const st = await agent.status();
  const [meters, tanks] = st.subscriptions;
  console.log(
    `[steps-max-keys] meters ${JSON.stringify(meters!.counts)}; tanks ${JSON.stringify(tanks!.counts)}`,
  );
  expect(meters!.counts).toMatchObject({
    messages: meterReadings,
    held: meterReadings,
    events: windows().length,
    emitted: windows().length,
  });
  // Every window was emitted by an eviction (an hour-long window does not end in this test,
  // unless an hour's boundary passed, which emits the windows open then: each meter once).
  expect(meters!.counts.evicted).toBeGreaterThanOrEqual(windows().length - METERS);
  expect(meters!.counts.evicted).toBeGreaterThanOrEqual(METERS);
  // A tank whose level never moves is reported again only after its key was evicted.
  const tankEvents = firstById().filter((r) => r.json.type.startsWith('tank.')).length;
  expect(tanks!.counts).toMatchObject({ messages: tankReadings, reported: tankEvents, events: tankEvents });
  expect(tanks!.counts.reported + tanks!.counts.filtered).toBe(tankReadings);
  expect(tanks!.counts.evicted).toBeGreaterThan(0);
  expect(tankEvents).toBeGreaterThan(TANKS + MAX_KEYS);

  const token = readFileSync(join(agent.dataDir, 'admin-token'), 'utf8').trim();
  const metrics = await (
    await fetch(`${agent.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const metric = (line: string) => {
    const m = new RegExp(`^${line.replace(/[{}+"/]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics);
    return m ? Number(m[1]) : undefined;
  };
  expect(metric('edgehook_step_keys_evicted_total{subscription="meter/+"}')).toBe(meters!.counts.evicted);
  expect(metric('edgehook_step_keys_evicted_total{subscription="tank/+"}')).toBe(tanks!.counts.evicted);
  expect(metric('edgehook_messages_total{subscription="meter/+",outcome="held"}')).toBe(meterReadings);

  // Logged once per run, not once per eviction.
  const logged = (log: string) => log.split('\n').filter((l) => l.includes('reached processing.maxKeys'));
  expect(meters!.counts.evicted + tanks!.counts.evicted).toBeGreaterThan(2);
  expect(logged(firstRunLog)).toHaveLength(1);
  expect(logged(agent.output)).toHaveLength(1);

  expect(await agent.signal('SIGTERM')).toBe(0);
  expect(integrityCheck(join(agent.dataDir, 'edgehook.db'))).toBe('ok');
});
