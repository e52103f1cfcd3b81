import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { AgentProcess, SECRET } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { sleep, waitFor } from '../helpers/net.js';
import {
  Cleanup,
  publishPaced,
  seededRandom,
  snapshotDb,
  tempDirIn,
  waitWithProgress,
} from './support/rig.js';

/**
 * Torn writes (README "Guarantees" 1: acked only after the commit is on disk). The agent
 * is SIGKILLed again and again while group commits of large rows are being written. After each
 * kill, the database as the crash left it (with its WAL) must open cleanly, pass
 * `PRAGMA integrity_check`, and hold every message the agent had acked: the broker will never
 * send those again. The broker runs in this process so every PUBACK the agent sends is seen.
 */

const KILLS = 10;
const CLIENT_ID = 'edgehook-torn';
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

it('SIGKILL during group commits, 10 times: the database opens cleanly, integrity_check ok, no acked message missing', async () => {
  const rnd = seededRandom('torn-writes');
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.add(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Every message the agent has acked (PUBACK seen by the broker), by index.
  const acked = new Set<number>();
  broker.on('ack', (packet, client) => {
    if (client?.id === CLIENT_ID && packet && packet.cmd === 'publish')
      acked.add((JSON.parse(String(packet.payload)) as { k: number }).k);
  });
  let subscribed = false;
  broker.on('subscribe', (_subs, client) => {
    if (client?.id === CLIENT_ID) subscribed = true;
  });

  const receiver = await new Receiver([SECRET]).start();
  cleanup.add(() => receiver.stop());
  const agent = new AgentProcess(
    tempDirIn(cleanup, 'edgehook-dur-torn-'),
    `agentId: gw-torn
mqtt: { url: '${url}', clientId: ${CLIENT_ID}, reconnectMaxSeconds: 1 }
subscriptions: [ { topic: 'torn/#', qos: 1 } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  cleanup.add(() => agent.kill());
  await agent.start();
  await waitFor(() => subscribed, 'the agent to subscribe', 20_000);

  // A device streams large readings, so each group commit writes many pages.
  const dev = await mqtt.connectAsync(url, { clientId: 'device-torn', clean: false });
  cleanup.add(() => dev.endAsync(true));
  const pad = 'x'.repeat(1500);
  const progress = { published: 0 };
  let streaming = true;
  const publishing = publishPaced(
    dev,
    1_000_000,
    (k) => ({ topic: 'torn/reading', payload: JSON.stringify({ k, pad }) }),
    // The broker queues in memory whatever the agent has not taken yet: keep that backlog bounded.
    { window: 100, stop: () => !streaming, hold: (published) => published - acked.size > 2000 },
    progress,
  );
  cleanup.add(() => {
    streaming = false;
  });

  for (let kill = 0; kill < KILLS; kill++) {
    await waitFor(() => subscribed, 'the agent to resubscribe', 20_000);
    await sleep(rnd.between(100, 900));
    expect(await agent.kill()).toBeNull();
    const ackedNow = [...acked];
    // The files exactly as the crash left them, opened (and recovered) as the agent would.
    const dir = tempDirIn(cleanup, 'edgehook-dur-torn-copy-');
    const file = snapshotDb(agent.dataDir, dir);
    const db = new Database(file);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const stored = new Set(
        db.prepare(`SELECT json_extract(body, '$.data.k') FROM events`).pluck().all() as number[],
      );
      const missing = ackedNow.filter((k) => !stored.has(k));
      expect(missing, `kill ${kill + 1}: acked by the agent but not in its database`).toEqual([]);
    } finally {
      db.close();
    }
    subscribed = false;
    await agent.start();
  }
  streaming = false;
  await publishing;
  console.log(
    `[torn-writes] ${KILLS} kills; ${acked.size} messages acked by the agent out of ${progress.published} published`,
  );
  expect(acked.size).toBeGreaterThan(KILLS * 10);

  // And the agent carries on from the recovered database: the broker sends again what was not
  // acked (this broker sets no DUP flag, so those may be stored twice) until every published
  // message is acked, so stored.
  await waitWithProgress(
    () => acked.size >= progress.published,
    () => acked.size,
    'the agent to ack every published message',
    { stallMs: 15_000 },
  );
  expect(await agent.signal('SIGTERM')).toBe(0);
  const db = new Database(join(agent.dataDir, 'edgehook.db'), { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stored = new Set(
      db.prepare(`SELECT json_extract(body, '$.data.k') FROM events`).pluck().all() as number[],
    );
    const missing = [...Array(progress.published).keys()].filter((k) => !stored.has(k));
    expect(missing).toEqual([]);
  } finally {
    db.close();
  }
});
