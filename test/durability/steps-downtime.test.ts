import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { buildCrashAtAck } from '../helpers/crash-at-ack.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';
import { Cleanup, device, integrityCheck, publishPaced, tempDirIn, waitSubscribed } from './support/rig.js';

/**
 * Windows that ended while the agent was down are emitted at the next start (README, "Edge
 * processing"). Through a real Mosquitto and the agent started as a user starts it: readings go
 * into open windows, the agent is SIGKILLed before the windows end — right after it has sent the
 * PUBACK of the last reading (test/helpers/crash-at-ack.c) — stays down past their end, and is
 * started again with nothing more published. The windows arrive with every reading the
 * agent had taken in (the open windows were in SQLite, not in the killed process's memory).
 */

const SECONDS = 6;
const METERS = 3;
const PER_METER = 10;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Window {
  count: number;
  min: number;
  max: number;
  avg: number;
  first: number;
  last: number;
  from: string;
  to: string;
}

it('windows open at a SIGKILL and ended while the agent was down are emitted at the next start, with their counts', async () => {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const dir = tempDirIn(cleanup, 'edgehook-dur-downtime-');
  const agent = new AgentProcess(
    dir,
    `agentId: gw-downtime
mqtt: { url: '${mosq.url}', clientId: edgehook-downtime }
subscriptions:
  - topic: meter/+
    qos: 1
    type: meter.{1}
    key: "{1}"
    steps:
      - window: { seconds: ${SECONDS}, path: v }
  - { topic: probe, qos: 1, type: probe }
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  const crash = buildCrashAtAck();
  cleanup.add(() => crash.cleanup());
  agent.env = crash.env;
  cleanup.add(() => agent.kill());
  await agent.start();

  const dev = await device(mosq.url, 'device-downtime', cleanup);
  await waitSubscribed(dev, receiver, 'probe');

  // Start just after a window's start (windows are aligned to the clock), so every reading
  // falls into the same window and the kill comes well before it ends.
  const ms = SECONDS * 1000;
  await waitFor(() => Date.now() % ms < 300, 'the start of a window', ms + 1000, 20);
  const start = Math.floor(Date.now() / ms) * ms;
  const end = start + ms;
  // Meter m's readings are m*100 + 1 … m*100 + PER_METER, interleaved across the meters.
  const total = METERS * PER_METER;
  const value = (i: number) => (i % METERS) * 100 + Math.floor(i / METERS) + 1;
  const reading = (i: number) => ({
    topic: `meter/m${i % METERS}`,
    payload: JSON.stringify({ v: value(i) }),
  });
  await publishPaced(dev, total - 1, reading, { window: 5 });
  // Every reading but the last is committed (counted in the same transaction as its window's state).
  await waitFor(
    async () => (await agent.status()).subscriptions[0]!.counts.messages === total - 1,
    `the agent to take in ${total - 1} readings`,
    10_000,
    50,
  );
  // The last reading's PUBACK is the agent's last act: whatever it had not stored by then is lost.
  const beforeKill = receiver.delivered.filter((r) => r.json.type.startsWith('meter.')).length;
  crash.arm();
  const last = reading(total - 1);
  await dev.publishAsync(last.topic, last.payload, { qos: 1 });
  await crash.crashed(agent.proc!);
  const killedAt = Date.now();
  expect(crash.fired(), 'the agent died right after a PUBACK').toBe(true);
  // The windows were still open at the kill: what arrives later was emitted by the next run.
  expect(beforeKill, 'no window may have ended before the kill').toBe(0);
  expect(
    killedAt,
    `the kill must come before the window's end (${SECONDS} s): machine too slow?`,
  ).toBeLessThan(end);

  // Down past the windows' end: nobody runs their timers now.
  await waitFor(
    () => Date.now() > end + 500,
    "the windows' end to pass while the agent is down",
    ms + 2000,
    50,
  );
  expect(receiver.delivered.filter((r) => r.json.type.startsWith('meter.'))).toHaveLength(0);

  const restartedAt = Date.now();
  await agent.start();
  await waitFor(
    () => receiver.delivered.filter((r) => r.json.type.startsWith('meter.')).length >= METERS,
    `the ${METERS} windows that ended while the agent was down`,
    15_000,
    50,
  );
  await waitFor(async () => (await agent.status()).outbox.pending === 0, 'the outbox to settle', 10_000, 100);

  const windows = receiver.delivered
    .filter((r) => r.json.type.startsWith('meter.'))
    .map((r) => ({ type: r.json.type, data: r.json.data as Window, at: Date.parse(r.json.timestamp) }))
    .sort((a, b) => a.type.localeCompare(b.type));
  expect(windows.map((w) => w.type)).toEqual(Array.from({ length: METERS }, (_, m) => `meter.m${m}`));
  for (const [m, w] of windows.entries()) {
    const lo = m * 100 + 1;
    const hi = m * 100 + PER_METER;
    expect(w.data, w.type).toEqual({
      count: PER_METER,
      min: lo,
      max: hi,
      avg: (lo + hi) / 2,
      first: lo,
      last: hi,
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
    });
    // Stamped with the window's end, which came before the restart.
    expect(w.at).toBe(end);
    expect(w.at).toBeLessThan(restartedAt);
  }
  const counts = (await agent.status()).subscriptions[0]!.counts;
  expect(counts).toMatchObject({ messages: total, held: total, events: METERS, emitted: METERS, evicted: 0 });

  expect(await agent.signal('SIGTERM')).toBe(0);
  expect(integrityCheck(join(agent.dataDir, 'edgehook.db'))).toBe('ok');
});
