import { afterEach, expect, it } from 'vitest';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';
import type { RejectedEventPage } from '../../src/admin/api-types.js';
import {
  adminApi,
  Cleanup,
  device,
  expectCountsAddUp,
  publishPaced,
  tempDirIn,
  waitWithProgress,
} from './support/rig.js';
import { badPayload, ODD_TOPICS, TEN_MB } from './support/hostile-payloads.js';

/**
 * README "Guarantees" 5: a payload that does not parse as its subscription declares is kept as a
 * `rejected` event with the reason, visible, and still acked so it cannot jam the session.
 * 1,000 generated hostile payloads (invalid JSON, invalid UTF-8, deep nesting, 10 MB, empty,
 * binary garbage) and odd topics go through a real Mosquitto to the agent started as a user
 * starts it, with good events interleaved.
 */

const BAD = 1000;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Message {
  topic: string;
  payload: Buffer;
  /** For good events: what the receiver must see, in this order. */
  good?: { g: number };
  bad?: number;
}

it('1,000 hostile payloads and odd topics: the agent stays up, each is kept as rejected with its reason, good events interleaved still arrive in order', async () => {
  const mosq = await startMosquitto();
  cleanup.add(() => mosq.cleanup());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const agent = new AgentProcess(
    tempDirIn(cleanup, 'edgehook-dur-hostile-'),
    `agentId: gw-hostile
mqtt: { url: '${mosq.url}', clientId: edgehook-hostile }
subscriptions: [ { topic: 'in/#', qos: 1, type: 'in.{1}', payload: json } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();
  const pid = agent.proc!.pid;
  const dev = await device(mosq.url, 'device-hostile', cleanup);
  let probes = 0;
  await waitFor(
    async () => {
      await dev.publishAsync('in/probe', '{"probe":true}', { qos: 1 });
      probes++;
      // Any request shows the subscription, whatever its signature (asserted later, by name).
      return receiver.requests.some((r) => r.json.topic === 'in/probe');
    },
    'the agent to subscribe',
    20_000,
    250,
  );

  // The stream: every bad payload on its own topic (some of them odd), a good event after every
  // tenth, good events on odd topics, and one good event of 10 MB.
  const messages: Message[] = [];
  let g = 0;
  const good = (topic: string, extra = ''): Message => {
    const n = g++;
    return { topic, payload: Buffer.from(`{"g":${n}${extra}}`), good: { g: n } };
  };
  for (let k = 0; k < BAD; k++) {
    const odd = k % 97 === 0 ? `/${ODD_TOPICS[(k / 97) % ODD_TOPICS.length]!.slice(3)}` : '';
    messages.push({ topic: `in/bad/${k}${odd}`, payload: badPayload(k).payload, bad: k });
    if (k % 10 === 9) messages.push(good('in/good'));
    if (k % 150 === 0) messages.push(good(ODD_TOPICS[(k / 150) % ODD_TOPICS.length]!));
    if (k === 700) messages.push(good('in/good/big', `,"big":"${'y'.repeat(TEN_MB)}"`));
  }
  const goods = messages.filter((m) => m.good);
  await publishPaced(dev, messages.length, (i) => messages[i]!, { window: 20 });

  const goodSeen = () =>
    receiver.delivered.filter((r) => typeof (r.json.data as { g?: number } | null)?.g === 'number');
  await waitWithProgress(
    // A bad signature is answered 401 and never delivered: it ends the wait and fails below.
    async () =>
      receiver.badSignatures > 0 ||
      (goodSeen().length >= goods.length &&
        (await agent.status()).outbox.received >= messages.length + probes),
    async () => (await agent.status()).outbox.received + goodSeen().length,
    'every message stored and every good event delivered',
    { stallMs: 20_000 },
  );

  expect(receiver.badSignatures, 'requests with a bad signature').toBe(0);
  // Still the same process, still answering.
  expect(agent.proc!.pid).toBe(pid);
  expect(agent.proc!.exitCode).toBeNull();
  // Good events went on, in order, on every topic.
  expect(goodSeen().map((r) => [r.json.topic, (r.json.data as { g: number }).g])).toEqual(
    goods.map((m) => [m.topic, m.good!.g]),
  );
  // Every hostile payload is kept, counted, as rejected: none delivered.
  const st = await agent.status();
  expect(st.outbox).toMatchObject({
    received: messages.length + probes,
    rejected: BAD,
    dropped: 0,
    failed: 0,
  });
  expectCountsAddUp(st.outbox);
  expect(receiver.delivered.filter((r) => r.json.topic.startsWith('in/bad/'))).toEqual([]);

  // Each is visible with its reason (GET /api/events, newest first, paged).
  const rejected: RejectedEventPage['items'] = [];
  let before: number | null = null;
  do {
    const page: { status: number; json: RejectedEventPage } = await adminApi<RejectedEventPage>(
      agent,
      'GET',
      `/api/events?state=rejected&limit=500${before ? `&before=${before}` : ''}`,
    );
    expect(page.status).toBe(200);
    rejected.push(...page.json.items);
    before = page.json.nextBefore;
  } while (before !== null);
  expect(rejected).toHaveLength(BAD);
  const wrong: string[] = [];
  for (const r of rejected) {
    const k = Number(/^in\/bad\/(\d+)/.exec(r.topic)?.[1]);
    const expected = badPayload(k);
    if (!expected.reason.test(r.reason)) wrong.push(`${k} (${expected.kind}): ${r.reason}`);
  }
  expect(wrong).toEqual([]);
  expect(new Set(rejected.map((r) => r.topic)).size).toBe(BAD);
  for (const t of ODD_TOPICS)
    expect(
      rejected.some((r) => r.topic.endsWith(t.slice(3))),
      t.slice(0, 40),
    ).toBe(true);

  // They were acked: after a restart the broker sends none of them again.
  expect(await agent.signal('SIGTERM')).toBe(0);
  await agent.start();
  await dev.publishAsync('in/after-restart', '{"g":-1}', { qos: 1 });
  await waitFor(
    () => receiver.delivered.some((r) => r.json.topic === 'in/after-restart'),
    'an event after the restart',
    20_000,
    50,
  );
  expect((await agent.status()).outbox).toMatchObject({
    received: messages.length + probes + 1,
    rejected: BAD,
  });
});
