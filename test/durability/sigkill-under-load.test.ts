import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { sleep, waitFor } from '../helpers/net.js';
import {
  Cleanup,
  device,
  expectCountsAddUp,
  integrityCheck,
  publishPaced,
  seededRandom,
  tempDirIn,
  waitSubscribed,
  waitWithProgress,
} from './support/rig.js';

/**
 * README "Guarantees" 1–3 under the worst a gateway sees: the agent is SIGKILLed at random moments
 * while 20,000 QoS 1 messages stream in through a real Mosquitto and deliveries are in flight,
 * and restarted each time as a user (or systemd) would. Every message must reach the receiver;
 * a duplicate must carry the webhook-id of its first delivery; with `ordering: strict` the
 * order holds once duplicates are removed.
 */

const TOTAL = 20_000;
const KILLS = 10;
/** Messages kept back for each kill still to come, so every kill lands while messages stream in. */
const RESERVE_PER_KILL = 100;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

it('20,000 QoS 1 messages, SIGKILL at 10 random moments while they stream: all arrive, same webhook-id on duplicates, strict order', async () => {
  const rnd = seededRandom('sigkill-under-load');
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const dir = tempDirIn(cleanup, 'edgehook-dur-kill-');
  const agent = new AgentProcess(
    dir,
    `agentId: gw-kill
mqtt: { url: '${mosq.url}', clientId: edgehook-kill }
subscriptions: [ { topic: 'load/+', qos: 1, type: 'load.{1}' } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET}, ordering: strict } ]
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();

  const dev = await device(mosq.url, 'device-kill', cleanup);
  // The subscription is in place (and the session exists) once a probe comes out at the receiver.
  const probes = await waitSubscribed(dev, receiver, 'load/probe');

  const progress = { published: 0 };
  let killsDone = 0;
  let abandoned = false; // a failure below must not leave the publisher waiting for kills
  cleanup.add(() => {
    abandoned = true;
  });
  // How long a kill-and-restart cycle takes here, so the stream is spread over all the kills
  // (a restart is a few seconds on a busy 2-core machine, well under one on an idle one).
  const cycles: number[] = [];
  const rate = (): number => {
    const killsLeft = KILLS - killsDone;
    if (killsLeft === 0) return 2000;
    const cycleMs = cycles.length > 0 ? cycles.reduce((a, b) => a + b, 0) / cycles.length : 2500;
    return Math.max(100, (TOTAL - progress.published) / ((killsLeft * cycleMs) / 1000 + 1));
  };
  const publishing = publishPaced(
    dev,
    TOTAL,
    (i) => ({ topic: 'load/line', payload: JSON.stringify({ i, pad: 'x'.repeat(100) }) }),
    {
      window: 50,
      ratePerSec: rate,
      // Keep some messages back for each kill still to come: a kill must never find the stream over.
      hold: (published) => TOTAL - published <= (KILLS - killsDone) * RESERVE_PER_KILL && killsDone < KILLS,
      stop: () => abandoned,
    },
    progress,
  );
  let publishError: unknown;
  publishing.catch((err) => (publishError = err));

  const kills: { at: number; published: number; delivered: number }[] = [];
  for (let k = 0; k < KILLS; k++) {
    const cycleStarted = Date.now();
    // A random moment: some right after the restart (recovery and redelivery running), most
    // in the middle of group commits and deliveries.
    await sleep(rnd.between(150, 1800));
    kills.push({ at: Date.now(), published: progress.published, delivered: receiver.delivered.length });
    expect(await agent.kill()).toBeNull(); // killed by the signal, not exited
    killsDone++;
    await agent.start();
    cycles.push(Date.now() - cycleStarted);
  }
  await publishing;
  expect(publishError).toBeUndefined();
  console.log(
    '[sigkill-under-load] kills (messages acked by the broker / deliveries at the kill):',
    kills.map((k) => `${k.published}/${k.delivered}`).join(' '),
  );
  // Every kill landed while the stream was still going.
  for (const k of kills) expect(k.published).toBeGreaterThan(0);
  for (const k of kills) expect(k.published).toBeLessThan(TOTAL);

  const indexOf = (r: (typeof receiver.delivered)[number]) => (r.json.data as { i?: number }).i;
  const distinct = () =>
    new Set(receiver.delivered.filter((r) => r.json.topic === 'load/line').map(indexOf)).size;
  // A bad signature (answered 401, never delivered) ends the wait: it fails below, not as a stall.
  const done = () => distinct() >= TOTAL || receiver.badSignatures > 0;
  await waitWithProgress(done, distinct, `all ${TOTAL} messages delivered`, {
    stallMs: 20_000,
    timeoutMs: 150_000,
    intervalMs: 250,
  });

  // Every request verified, not only the 2xx ones (a bad signature is answered 401).
  expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
  const got = receiver.delivered.filter((r) => r.json.topic === 'load/line');
  // Nothing lost.
  const idsByIndex = new Map<number, Set<string>>();
  const seqById = new Map<string, Set<number>>();
  for (const r of got) {
    const i = indexOf(r)!;
    if (!idsByIndex.has(i)) idsByIndex.set(i, new Set());
    idsByIndex.get(i)!.add(r.id);
    if (!seqById.has(r.id)) seqById.set(r.id, new Set());
    seqById.get(r.id)!.add(r.json.seq);
  }
  expect(idsByIndex.size).toBe(TOTAL);
  // Effectively once: a message delivered twice carries the same webhook-id (and seq) both times.
  const withSeveralIds = [...idsByIndex]
    .filter(([, ids]) => ids.size > 1)
    .map(([i, ids]) => `${i}: ${[...ids].join(', ')}`);
  expect(withSeveralIds).toEqual([]);
  expect([...seqById.values()].every((s) => s.size === 1)).toBe(true);
  // Strict order once duplicates are removed, and seq grows with it.
  const seen = new Set<string>();
  const firstDeliveries = got.filter((r) => {
    if (seen.has(r.id)) return false;
    seen.add(r.id);
    return true;
  });
  const order = firstDeliveries.map(indexOf);
  const outOfOrder = order.findIndex((v, k) => v !== k);
  expect(
    outOfOrder,
    `first out-of-order delivery at position ${outOfOrder}: ${order.slice(Math.max(0, outOfOrder - 3), outOfOrder + 3).join(',')}`,
  ).toBe(-1);
  const seqs = firstDeliveries.map((r) => r.json.seq);
  expect(seqs.every((s, k) => k === 0 || s > seqs[k - 1]!)).toBe(true);
  console.log(
    `[sigkill-under-load] ${got.length - TOTAL} duplicate deliveries (same webhook-id) after ${KILLS} kills`,
  );

  // The outbox agrees: every received event delivered, each counted once.
  await waitFor(async () => (await agent.status()).outbox.pending === 0, 'the outbox to settle', 20_000, 100);
  const st = await agent.status();
  expectCountsAddUp(st.outbox);
  expect(st.outbox).toMatchObject({
    received: TOTAL + probes,
    delivered: TOTAL + probes,
    pending: 0,
    failed: 0,
    dropped: 0,
    rejected: 0,
  });
  expect(await agent.signal('SIGTERM')).toBe(0);
  expect(integrityCheck(join(agent.dataDir, 'edgehook.db'))).toBe('ok');
});
