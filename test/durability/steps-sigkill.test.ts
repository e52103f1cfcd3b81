import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { buildCrashAtAck } from '../helpers/crash-at-ack.js';
import { Receiver } from '../helpers/receiver.js';
import { sleep, waitFor } from '../helpers/net.js';
import {
  Cleanup,
  device,
  integrityCheck,
  publishPaced,
  seededRandom,
  tempDirIn,
  waitSubscribed,
  waitWithProgress,
} from './support/rig.js';

/**
 * Edge processing keeps the promise (README, "Edge processing"): the agent, started as a user
 * starts it, is SIGKILLed at random moments (every other time right after it sent a PUBACK)
 * while QoS 1 messages stream in through a real Mosquitto into open one-second windows and a
 * deadband. Windows that ended while it was down are emitted at the next start; the counts of
 * the delivered windows sum to the number of messages published (none lost, none counted twice:
 * the kills leave committed-but-unacked packets that Mosquitto redelivers); no window is
 * delivered twice under different ids; and the deadband, whose state must survive each kill,
 * reports exactly once per step of the level.
 */

const METERS = 4_000;
const LEVELS = 1_000;
const KILLS = 4;
const BAND = 10;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Window {
  count: number;
  min: number;
  max: number;
  from: string;
  to: string;
}

it('SIGKILL amid open windows and a deadband: window counts sum to the messages, each window once, deadband state kept', async () => {
  const rnd = seededRandom('steps-sigkill');
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const dir = tempDirIn(cleanup, 'edgehook-dur-steps-');
  const agent = new AgentProcess(
    dir,
    `agentId: gw-steps
mqtt: { url: '${mosq.url}', clientId: edgehook-steps }
subscriptions:
  - topic: meter/+
    qos: 1
    type: meter.{1}
    key: "{1}"
    steps:
      - window: { seconds: 1, path: v }
  - topic: level/+
    qos: 1
    type: level
    steps:
      - deadband: { path: level, by: ${BAND} }
  - { topic: probe, qos: 1, type: probe }
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET}, ordering: parallel, maxInFlight: 16 } ]
admin: { port: 0 }
`,
  );
  const crash = buildCrashAtAck();
  cleanup.add(() => crash.cleanup());
  agent.env = crash.env;
  cleanup.add(() => agent.kill());
  await agent.start();

  const dev = await device(mosq.url, 'device-steps', cleanup);
  await waitSubscribed(dev, receiver, 'probe');

  // A level that steps up by the band every 100 readings and jitters by 0.1 in between: with its
  // last reported value kept, exactly one report per step; were it lost at a kill, the first
  // reading after the restart would be reported too.
  const level = (j: number) => 100 + BAND * Math.floor(j / 100) + (j % 2) * 0.1;
  // Meters and levels interleaved: five meter readings (value 1, five keys) to one level step.
  const TOTAL = METERS + LEVELS;
  const make = (i: number) => {
    if (i % 5 === 4) return { topic: 'level/tank', payload: JSON.stringify({ level: level((i - 4) / 5) }) };
    const n = i - Math.floor(i / 5);
    return { topic: `meter/m${n % 5}`, payload: JSON.stringify({ v: 1, n }) };
  };
  const progress = { published: 0 };
  // Messages kept back for each kill still to come, as in sigkill-under-load: a kill must never
  // find the stream over, least of all an armed crash, which waits for the agent's next PUBACK.
  // While a crash is armed nothing is held, so that PUBACK comes.
  const RESERVE_PER_KILL = 200;
  let killsDone = 0;
  let armed = false;
  let abandoned = false;
  cleanup.add(() => {
    abandoned = true;
  });
  const publishing = publishPaced(
    dev,
    TOTAL,
    make,
    {
      window: 25,
      ratePerSec: 500,
      hold: (published) =>
        !armed && killsDone < KILLS && TOTAL - published <= (KILLS - killsDone) * RESERVE_PER_KILL,
      stop: () => abandoned,
    },
    progress,
  );
  let publishError: unknown;
  publishing.catch((err) => (publishError = err));

  const kills: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    await sleep(rnd.between(300, 1500));
    kills.push(progress.published);
    if (k % 2 === 1) {
      // Every other kill right after a PUBACK (test/helpers/crash-at-ack.c), a moment a kill
      // from outside almost never hits: the acked messages' state must be on disk already.
      armed = true;
      crash.arm();
      await crash.crashed(agent.proc!);
      armed = false;
      expect(crash.fired()).toBe(true);
    } else expect(await agent.kill()).toBeNull();
    killsDone++;
    // Down long enough for open windows to end while nobody runs their timers.
    await sleep(rnd.between(200, 1500));
    await agent.start();
  }
  await publishing;
  expect(publishError).toBeUndefined();
  console.log(`[steps-sigkill] kills after ${kills.join(', ')} of ${TOTAL} published`);
  // Every kill landed while the stream was still going.
  expect(kills).toHaveLength(KILLS);
  for (const published of kills) expect(published).toBeLessThan(TOTAL);

  const firstById = () => {
    const byId = new Map<string, (typeof receiver.delivered)[number]>();
    for (const r of receiver.delivered) if (!byId.has(r.id)) byId.set(r.id, r);
    return [...byId.values()];
  };
  const windows = () => firstById().filter((r) => r.json.type.startsWith('meter.'));
  const counted = () => windows().reduce((sum, r) => sum + (r.json.data as Window).count, 0);
  await waitWithProgress(
    () => counted() >= METERS,
    counted,
    `windows counting all ${METERS} meter readings`,
    {
      stallMs: 20_000,
      timeoutMs: 120_000,
      intervalMs: 250,
    },
  );
  await waitFor(async () => (await agent.status()).outbox.pending === 0, 'the outbox to settle', 20_000, 100);
  expect(receiver.delivered.every((r) => r.verified)).toBe(true);

  // Nothing lost, nothing counted twice.
  expect(counted()).toBe(METERS);
  // Each (meter, window) once: a window re-emitted after a kill would come with another id.
  const idsByWindow = new Map<string, Set<string>>();
  for (const r of receiver.delivered.filter((d) => d.json.type.startsWith('meter.'))) {
    const w = r.json.data as Window;
    const k = `${r.json.type} ${w.from}`;
    if (!idsByWindow.has(k)) idsByWindow.set(k, new Set());
    idsByWindow.get(k)!.add(r.id);
  }
  expect([...idsByWindow].filter(([, ids]) => ids.size > 1).map(([k]) => k)).toEqual([]);

  // The deadband's last reported value survived every kill: one report per step, no more.
  const levels = firstById()
    .filter((r) => r.json.type === 'level')
    .map((r) => (r.json.data as { level: number }).level)
    .sort((a, b) => a - b);
  expect(levels).toEqual(Array.from({ length: LEVELS / 100 }, (_, k) => level(k * 100)));

  // The counts agree: every message counted once, under one outcome.
  const st = await agent.status();
  const [meters, tank] = st.subscriptions;
  expect(meters!.counts).toMatchObject({
    messages: METERS,
    held: METERS,
    rejected: 0,
    events: windows().length,
  });
  expect(tank!.counts).toMatchObject({
    messages: LEVELS,
    reported: LEVELS / 100,
    filtered: LEVELS - LEVELS / 100,
  });
  expect(await agent.signal('SIGTERM')).toBe(0);
  expect(integrityCheck(join(agent.dataDir, 'edgehook.db'))).toBe('ok');
});
