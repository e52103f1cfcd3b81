import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { Webhook } from 'standardwebhooks';
import { OffsetClock } from '../../src/clock.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { freePort, waitFor } from '../helpers/net.js';
import { Cleanup, expectCountsAddUp, tempDirIn } from './support/rig.js';

/**
 * A receiver down for three simulated days (README "Delivery": events older than `maxAgeHours`
 * (default 72) become expired, counted and visible). Three days cannot pass in CI, so this
 * agent runs in-process with an OffsetClock moved forward; everything else is real: the
 * embedded broker, SQLite, the dispatcher's timers (short: a refused connection is probed
 * every ~2 s), and an HTTP receiver that refuses connections until it starts.
 */

const HOUR = 3_600_000;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

it('a receiver down for 3 simulated days gets every event younger than maxAgeHours, in order; the older ones are expired and counted', async () => {
  const clock = new OffsetClock();
  const port = await freePort(); // nothing listens here until the receiver "comes back"
  const agent = await startAgent(
    `agentId: gw-outage
mqtt: { url: embedded, embedded: { port: 0 } }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints: [ { id: cloud, url: 'http://127.0.0.1:${port}/hooks', secret: ${SECRET}, retry: { maxAgeHours: 72 } } ]
admin: { enabled: false }
`,
    { clock, dataDir: tempDirIn(cleanup, 'edgehook-dur-outage-') },
  );
  cleanup.add(() => agent.stop());
  const dev = await mqtt.connectAsync(agent.broker!.url);
  cleanup.add(() => dev.endAsync());

  let next = 0;
  const publish = async (n: number): Promise<number[]> => {
    const batch = [...Array(n).keys()].map(() => next++);
    for (const i of batch) await dev.publishAsync('d/reading', JSON.stringify({ i }), { qos: 1 });
    await waitFor(() => agent.status().outbox.received >= next, `${next} events stored`, 10_000);
    return batch;
  };
  // Readings arrive through the outage; the clock moves on between them.
  const at0h = await publish(20);
  clock.advance(2 * HOUR);
  const at2h = await publish(20);
  clock.advance(24 * HOUR);
  const at26h = await publish(20);
  clock.advance(24 * HOUR);
  const at50h = await publish(20);
  expect(agent.status().endpoints[0]).toMatchObject({
    state: 'backing-off',
    lastError: expect.stringMatching(/ECONNREFUSED/),
  });
  clock.advance(23 * HOUR); // now 73 h after the first readings: they are past maxAgeHours; the 2 h ones are 71 h old

  // The next probe finds the head too old: those events expire without a request.
  await waitFor(
    () => agent.status().outbox.expired === at0h.length,
    'the 73-hour-old events to expire',
    15_000,
    50,
  );
  expect(agent.status().outbox.pending).toBe(at2h.length + at26h.length + at50h.length);

  const receiver = await new Receiver([]).start(port); // signatures are checked below against the agent's clock
  cleanup.add(() => receiver.stop());
  const younger = [...at2h, ...at26h, ...at50h];
  await waitFor(
    () => receiver.delivered.length >= younger.length,
    'every younger event delivered',
    20_000,
    50,
  );
  expect(receiver.delivered.map((r) => (r.json.data as { i: number }).i)).toEqual(younger);

  // Signed like any other delivery, with the attempt's time on the agent's clock (3 days ahead).
  const wh = new Webhook(SECRET);
  for (const r of receiver.delivered) {
    const ts = Number(r.headers['webhook-timestamp']);
    expect(r.headers['webhook-signature']).toBe(wh.sign(r.id, new Date(ts * 1000), r.body));
    expect(Math.abs(ts * 1000 - clock.now())).toBeLessThan(5 * 60_000);
  }

  await waitFor(() => agent.status().outbox.delivered === younger.length, 'the results committed', 5000);
  const st = agent.status().outbox;
  expect(st).toMatchObject({ received: 80, delivered: 60, expired: 20, pending: 0, failed: 0, dropped: 0 });
  expectCountsAddUp(st);
  // Expired deliveries are visible in the log, each one of the oldest readings.
  const expired = agent.outbox!.queryDeliveries({ status: 'expired', limit: 100 }).items;
  expect(expired).toHaveLength(20);
  expect(expired.every((d) => d.receivedAt < clock.now() - 72 * HOUR)).toBe(true);
});
