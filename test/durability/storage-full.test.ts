import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/net.js';
import type { AgentStatus } from '../../src/agent/agent-status.js';
import {
  Cleanup,
  device,
  expectCountsAddUp,
  integrityCheck,
  publishPaced,
  tempDirIn,
  waitWithProgress,
} from './support/rig.js';
import { TroubleServer } from './support/trouble-server.js';

/**
 * README "Guarantees" 4: the outbox never grows past storage.maxBytes; what happens when full is
 * configured (whenFull), counted and shown. A tiny maxBytes, a receiver that is down while
 * 1,000 events arrive through a real Mosquitto, then comes back.
 */

const MAX_BYTES = 64 * 1024;
const TOTAL = 1000;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/**
 * The receiver is down in one of two ways: nothing listens (connections refused), or it
 * accepts connections and never answers (so a request for the oldest event is in flight for
 * most of the outage). `up()` brings it back; it then answers 200.
 */
async function fullRig(whenFull: 'drop-oldest' | 'stop-ingest', down: 'refused' | 'hanging') {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  let receiver: TroubleServer | undefined;
  let url: string;
  let answering = false;
  if (down === 'hanging') {
    receiver = await new TroubleServer(SECRET).start();
    cleanup.add(() => receiver!.stop());
    receiver.behave = (_req, res) => {
      if (answering) res.writeHead(200).end();
    };
    url = receiver.url;
  } else {
    url = `http://127.0.0.1:${await freePort()}/hooks`;
  }
  const up = async (): Promise<TroubleServer> => {
    answering = true;
    if (!receiver) {
      receiver = await new TroubleServer(SECRET).start(Number(new URL(url).port));
      cleanup.add(() => receiver!.stop());
    }
    return receiver;
  };
  const agent = new AgentProcess(
    tempDirIn(cleanup, `edgehook-dur-full-${whenFull}-`),
    `agentId: gw-full
mqtt: { url: '${mosq.url}', clientId: edgehook-full }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints: [ { id: cloud, url: '${url}', secret: ${SECRET}, timeoutMs: 2000 } ]
storage: { maxBytes: ${MAX_BYTES}, whenFull: ${whenFull} }
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();
  const dev = await device(mosq.url, 'device-full', cleanup);
  // Subscribed once a probe is in the outbox (nothing can be delivered yet).
  let probes = 0;
  await waitFor(
    async () => {
      await dev.publishAsync('d/probe', '{"probe":true}', { qos: 1 });
      probes++;
      return (await agent.status()).outbox.received > 0;
    },
    'the agent to subscribe',
    20_000,
    250,
  );
  // Every status seen must respect the limit and add up.
  const seen: AgentStatus['outbox'][] = [];
  const status = async () => {
    const st = await agent.status();
    seen.push(st.outbox);
    return st;
  };
  const payload = (i: number) => JSON.stringify({ i, reading: 'r'.repeat(150) });
  const published = publishPaced(dev, TOTAL, (i) => ({ topic: 'd/reading', payload: payload(i) }), {
    window: 50,
  });
  return { agent, up, probes: () => probes, status, seen, published };
}

function expectWithinLimit(seen: AgentStatus['outbox'][]): void {
  expect(seen.length).toBeGreaterThan(0);
  for (const o of seen) {
    expect(o.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expectCountsAddUp(o);
  }
}

const readings = (r: TroubleServer) => r.accepted.filter((x) => x.topic === 'd/reading').map((x) => x.i!);

describe('storage full (storage.maxBytes 64 KiB)', () => {
  it('drop-oldest: every message is acked, the oldest undelivered events are dropped and counted, the newest arrive in order; integrity_check ok', async () => {
    const rig = await fullRig('drop-oldest', 'hanging');
    await rig.published; // drop-oldest never stops acking: the broker is not left holding anything
    await waitFor(
      async () => (await rig.status()).outbox.received >= TOTAL + rig.probes(),
      'every message stored',
      30_000,
      100,
    );
    const full = (await rig.status()).outbox;
    expect(full.dropped).toBeGreaterThan(0);
    expect(full.pending).toBeLessThan(TOTAL);
    expect(full.bytes).toBeLessThanOrEqual(MAX_BYTES);

    const receiver = await rig.up();
    await waitFor(
      async () => (await rig.status()).outbox.pending === 0,
      'the kept events delivered',
      30_000,
      100,
    );
    await waitFor(async () => (await rig.status()).outbox.delivered > 0, 'the results committed');
    const end = (await rig.status()).outbox;
    expect(end).toMatchObject({
      received: TOTAL + rig.probes(),
      failed: 0,
      rejected: 0,
      expired: 0,
      pending: 0,
    });
    expect(end.delivered + end.dropped).toBe(end.received);
    // A dropped event is gone: the receiver gets exactly what the outbox counts as delivered.
    expect(receiver.accepted.length, 'events the receiver accepted vs events counted delivered').toBe(
      end.delivered,
    );
    // What was kept is the newest, contiguous up to the last message, in order.
    const got = readings(receiver);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual([...Array(got.length).keys()].map((k) => TOTAL - got.length + k));
    expectWithinLimit(rig.seen);
    expect(await rig.agent.signal('SIGTERM')).toBe(0);
    expect(integrityCheck(join(rig.agent.dataDir, 'edgehook.db'))).toBe('ok');
  });

  it('stop-ingest: the agent stops acking and the broker holds; nothing is dropped; once the receiver is back every message arrives in order; integrity_check ok', async () => {
    const rig = await fullRig('stop-ingest', 'refused');
    await waitFor(async () => (await rig.status()).mqtt.holding, 'the agent to hold ingest', 30_000, 100);
    await rig.published; // the broker took them all from the device
    const held = (await rig.status()).outbox;
    expect(held.received).toBeLessThan(TOTAL);
    expect(held.dropped).toBe(0);
    expect(held.bytes).toBeLessThanOrEqual(MAX_BYTES);

    const receiver = await rig.up();
    // Ingest must resume as deliveries make room: a stall here means the broker holds the
    // rest forever.
    await waitWithProgress(
      () => readings(receiver).length >= TOTAL,
      () => readings(receiver).length,
      `all ${TOTAL} delivered`,
      {
        stallMs: 15_000,
        describe: async () =>
          JSON.stringify({ mqtt: (await rig.status()).mqtt, outbox: (await rig.status()).outbox }),
      },
    );
    expect(readings(receiver)).toEqual([...Array(TOTAL).keys()]);
    expect(new Set(receiver.accepted.map((r) => r.id)).size).toBe(receiver.accepted.length);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    await waitFor(async () => (await rig.status()).outbox.pending === 0, 'the outbox to settle', 10_000, 100);
    const end = await rig.status();
    expect(end.mqtt.holding).toBe(false);
    // Probes published before the agent's subscription existed were never routed to it.
    expect(end.outbox).toMatchObject({ delivered: end.outbox.received, dropped: 0, pending: 0 });
    expect(end.outbox.received - TOTAL).toBeGreaterThanOrEqual(1);
    expect(end.outbox.received - TOTAL).toBeLessThanOrEqual(rig.probes());
    expectWithinLimit(rig.seen);
    expect(await rig.agent.signal('SIGTERM')).toBe(0);
    expect(integrityCheck(join(rig.agent.dataDir, 'edgehook.db'))).toBe('ok');
  });
});
