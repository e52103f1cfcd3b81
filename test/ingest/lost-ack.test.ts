import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { AgentProcess, SECRET, startAgent, tempDir } from '../helpers/agent.js';
import { buildCrashAtAck } from '../helpers/crash-at-ack.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/net.js';

/**
 * The connection dies after the agent committed a message and sent its PUBACK/PUBREC, but
 * before the broker read it. The broker sends the message again (DUP) on the next connection.
 * README "Guarantees" 2: that redelivery must not become a second event with a new webhook-id.
 * A TCP proxy between the agent and a real Mosquitto swallows the ack and cuts the line, so the
 * moment is hit every time rather than by luck.
 */

const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const SUBACK = 9;

/** Splits complete MQTT control packets off the front of `buf` (fixed header, MQTT 3.1.1 §2.2). */
function splitPackets(buf: Buffer): { packets: Buffer[]; rest: Buffer } {
  const packets: Buffer[] = [];
  let off = 0;
  for (;;) {
    let len = 0;
    let mul = 1;
    let i = off + 1;
    let byte: number;
    do {
      if (i >= buf.length) return { packets, rest: buf.subarray(off) };
      byte = buf[i++]!;
      len += (byte & 127) * mul;
      mul *= 128;
    } while (byte & 128);
    if (i + len > buf.length) return { packets, rest: buf.subarray(off) };
    packets.push(buf.subarray(off, i + len));
    off = i + len;
  }
}

class AckEatingProxy {
  /** The next agent → broker packet of this type is swallowed and the connection cut. */
  eat: number | undefined;
  readonly seen = { suback: 0, publish: 0, dupPublish: 0, acksForwarded: 0, cut: 0 };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(brokerPort: number): Promise<void> {
    this.server = createServer((agent) => {
      const broker = connect(brokerPort, '127.0.0.1');
      for (const s of [agent, broker]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      const cut = () => {
        agent.destroy();
        broker.destroy();
      };
      agent.on('close', cut);
      broker.on('close', cut);
      let fromBroker: Buffer = Buffer.alloc(0);
      broker.on('data', (chunk: Buffer) => {
        const { packets, rest } = splitPackets(Buffer.concat([fromBroker, chunk]));
        fromBroker = rest;
        for (const p of packets) {
          if (p[0]! >> 4 === SUBACK) this.seen.suback++;
          if (p[0]! >> 4 === PUBLISH) {
            this.seen.publish++;
            if (p[0]! & 0x08) this.seen.dupPublish++;
          }
        }
        agent.write(chunk);
      });
      let fromAgent: Buffer = Buffer.alloc(0);
      agent.on('data', (chunk: Buffer) => {
        const { packets, rest } = splitPackets(Buffer.concat([fromAgent, chunk]));
        fromAgent = rest;
        for (const p of packets) {
          const type = p[0]! >> 4;
          if (type === this.eat) {
            this.eat = undefined;
            this.seen.cut++;
            cut();
            return;
          }
          if (type === PUBACK || type === PUBREC) this.seen.acksForwarded++;
          broker.write(p);
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Cuts every connection now (the agent reconnects through the proxy). */
  cutNow(): void {
    this.seen.cut++;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Mosquitto, the ack-eating proxy in front of it, and a receiver. */
async function brokerBehindProxy() {
  const m = await startMosquitto();
  cleanup.push(() => m.cleanup());
  const proxy = new AckEatingProxy();
  await proxy.start(m.port);
  cleanup.push(() => proxy.stop());
  const receiver = await new Receiver([SECRET]).start();
  cleanup.push(() => receiver.stop());
  return { m, proxy, receiver };
}

/**
 * Mosquitto, the ack-eating proxy in front of it, a receiver and an in-process agent that
 * connects through the proxy with `subscriptions` (YAML); resolves once the agent subscribed.
 */
async function agentBehindProxy(name: string, subscriptions: string) {
  const { m, proxy, receiver } = await brokerBehindProxy();
  const dataDir = tempDir('edgehook-lostack-');
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const agent: Agent = await startAgent(
    `agentId: gw-${name}
mqtt: { url: 'mqtt://127.0.0.1:${proxy.port}', clientId: 'edgehook-${name}' }
subscriptions: ${subscriptions}
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
    { dataDir },
  );
  cleanup.push(() => agent.stop());
  await waitFor(() => proxy.seen.suback > 0, 'the agent to subscribe');
  return { m, proxy, receiver, agent };
}

for (const qos of [1, 2] as const) {
  it(`QoS ${qos}: a message redelivered because its ${qos === 1 ? 'PUBACK' : 'PUBREC'} was lost is stored once, with one webhook-id`, async () => {
    const { m, proxy, receiver, agent } = await agentBehindProxy(
      `lost-ack-${qos}`,
      `[ { topic: 'dev/#', qos: ${qos} } ]`,
    );

    proxy.eat = qos === 1 ? PUBACK : PUBREC;
    const device = await mqtt.connectAsync(m.url);
    cleanup.push(() => device.endAsync(true));
    await device.publishAsync('dev/once', JSON.stringify({ i: 0 }), { qos });

    await waitFor(() => proxy.seen.cut === 1, 'the ack to be swallowed and the connection cut');
    await waitFor(() => proxy.seen.dupPublish >= 1, 'the broker to send the message again (DUP)', 20_000);
    // Acks are held until the commit: once the redelivery is acked, the outbox has decided.
    await waitFor(() => proxy.seen.acksForwarded >= 1, 'the redelivery to be acked', 10_000);
    await waitFor(
      () => receiver.delivered.length >= 1 && agent.status().outbox.pending === 0,
      'the delivery',
      10_000,
    );

    const ids = new Set(receiver.delivered.map((r) => r.id));
    expect(ids.size).toBe(1);
    expect(agent.status().outbox.received).toBe(1);
  });
}

it('the connection lost while a commit waits for its sync: the copy the broker sends again on the new connection is acked (the first copy’s release does not take its ack)', async () => {
  const { m, proxy, agent } = await agentBehindProxy('lost-conn', "[ { topic: 'dev/#', qos: 1 } ]");
  // The disk's sync is held by the test: each commit's acks wait for it, as on a slow SD card.
  const outbox = agent.outbox!;
  const syncs: (() => void)[] = [];
  const realAfterDurable = outbox.afterDurable.bind(outbox);
  outbox.afterDurable = (done) => syncs.push(() => realAfterDurable(done));

  const device = await mqtt.connectAsync(m.url);
  cleanup.push(() => device.endAsync(true));
  await device.publishAsync('dev/once', JSON.stringify({ i: 0 }), { qos: 1 });
  await waitFor(() => syncs.length === 1, 'the first copy committed, its sync pending');
  proxy.cutNow();
  await waitFor(() => proxy.seen.dupPublish >= 1, 'the broker to send the message again (DUP)', 20_000);
  await waitFor(() => syncs.length === 2, 'the second copy committed (a recognised redelivery)', 10_000);
  // The first copy's sync ends first: its release must leave the new copy's held PUBACK alone.
  for (const sync of syncs.splice(0)) sync();
  outbox.afterDurable = realAfterDurable;
  await waitFor(() => proxy.seen.acksForwarded >= 1, 'the PUBACK of the copy sent again', 10_000);
  expect(agent.status().outbox.received).toBe(1);
});

it('a message redelivered because its PUBACK was lost is added to its window once (README, "Edge processing")', async () => {
  const { m, proxy, receiver, agent } = await agentBehindProxy(
    'lost-ack-steps',
    '[ { topic: "dev/#", qos: 1, type: dev.window, steps: [ { window: { seconds: 2, path: v } } ] } ]',
  );

  proxy.eat = PUBACK;
  const device = await mqtt.connectAsync(m.url);
  cleanup.push(() => device.endAsync(true));
  await device.publishAsync('dev/once', JSON.stringify({ v: 5 }), { qos: 1 });
  await waitFor(() => proxy.seen.cut === 1, 'the ack to be swallowed and the connection cut');
  await waitFor(() => proxy.seen.dupPublish >= 1, 'the broker to send the message again (DUP)', 20_000);
  await waitFor(() => proxy.seen.acksForwarded >= 1, 'the redelivery to be acked', 10_000);
  await waitFor(() => receiver.delivered.length >= 1, 'the window to close and be delivered', 10_000);

  expect(receiver.delivered.map((r) => r.json.data)).toEqual([expect.objectContaining({ count: 1, max: 5 })]);
  expect(agent.status().subscriptions[0]!.counts).toMatchObject({
    messages: 1,
    held: 1,
    events: 1,
    emitted: 1,
  });
});

it('a message whose PUBACK was lost as the agent died right after sending it is in its window once after the restart (README, "Edge processing")', async () => {
  const { m, proxy, receiver } = await brokerBehindProxy();
  const crash = buildCrashAtAck();
  cleanup.push(() => crash.cleanup());
  // The agent as a user starts it, killed by the shim the moment its PUBACK is written: the
  // message's effect on its window must be on disk by then, or the restart loses it (and the
  // re-send the broker makes, as it never got the ack, is recognised and not counted again).
  const agent = new AgentProcess(
    tempDir('edgehook-lostack-crash-'),
    `agentId: gw-lost-ack-crash
mqtt: { url: 'mqtt://127.0.0.1:${proxy.port}', clientId: 'edgehook-lost-ack-crash' }
subscriptions: [ { topic: 'dev/#', qos: 1, type: dev.window, steps: [ { window: { seconds: 2, path: v } } ] } ]
endpoints: [ { id: cloud, url: '${receiver.url}', secret: ${SECRET} } ]
admin: { port: 0 }
`,
  );
  agent.env = crash.env;
  cleanup.push(() => agent.cleanup());
  await agent.start();
  await waitFor(() => proxy.seen.suback > 0, 'the agent to subscribe');

  proxy.eat = PUBACK;
  crash.arm();
  const device = await mqtt.connectAsync(m.url);
  cleanup.push(() => device.endAsync(true));
  await device.publishAsync('dev/once', JSON.stringify({ v: 5 }), { qos: 1 });
  await crash.crashed(agent.proc!);
  expect(crash.fired()).toBe(true);
  expect(proxy.seen.cut).toBe(1);
  expect(receiver.delivered).toHaveLength(0);

  await agent.start();
  await waitFor(() => proxy.seen.dupPublish >= 1, 'the broker to send the message again (DUP)', 20_000);
  await waitFor(() => proxy.seen.acksForwarded >= 1, 'the redelivery to be acked', 10_000);
  await waitFor(() => receiver.delivered.length >= 1, 'the window to close and be delivered', 10_000);
  await waitFor(async () => (await agent.status()).outbox.pending === 0, 'the outbox to settle', 10_000);

  expect(receiver.delivered.map((r) => r.json.data)).toEqual([expect.objectContaining({ count: 1, max: 5 })]);
  expect((await agent.status()).subscriptions[0]!.counts).toMatchObject({
    messages: 1,
    held: 1,
    events: 1,
    emitted: 1,
  });
});
