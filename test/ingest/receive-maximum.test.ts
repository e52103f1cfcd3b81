import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { RECEIVE_MAXIMUM } from '../../src/ingest/mqtt-source.js';
import { SECRET, publishUntilStored, startAgent, tempDir } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { Receiver } from '../helpers/receiver.js';
import { freePort, waitFor } from '../helpers/net.js';

/**
 * The broker's in-flight window (README "Admin API", `mqtt.held`). With MQTT 5 the agent
 * asks for a Receive Maximum below its held-message bound, and Mosquitto honours it: while the
 * agent holds its acks (the outbox is full with stop-ingest, so nothing more commits), the
 * broker has no more than that many messages out unacked. With MQTT 3.1.1 there is no such
 * limit: the broker sends on, and the agent stops reading its socket at 2,000 held; it can
 * still stop in that state (a graceful MQTT end would wait for ever for a socket never read to
 * its end), and the next run gets everything the broker kept.
 *
 * What the broker sent is read from Mosquitto's own debug log, not from the agent.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const TOTAL = 5000;
const MAX_HELD = RECEIVE_MAXIMUM + 1;

/** PUBLISH packets Mosquitto sent to `clientId`, and the PUBACKs it received from it. */
function brokerCounts(logFile: string, clientId: string): { sent: number; acked: number; unacked: number } {
  const log = readFileSync(logFile, 'utf8');
  const count = (re: RegExp) => (log.match(re) ?? []).length;
  const sent = count(new RegExp(`Sending PUBLISH to ${clientId} \\(d\\d, q1`, 'g'));
  const acked = count(new RegExp(`Received PUBACK from ${clientId} `, 'g'));
  return { sent, acked, unacked: sent - acked };
}

async function holdAcksAndFlood(protocolVersion: 4 | 5) {
  const logDir = mkdtempSync(join(tmpdir(), 'edgehook-rm-log-'));
  cleanup.push(() => rmSync(logDir, { recursive: true, force: true }));
  const logFile = join(logDir, 'mosquitto.log');
  // No in-flight or queue limit of the broker's own: only what the client asks for bounds it.
  const mosq = await startMosquitto({
    extraConfig: `max_inflight_messages 0\nmax_queued_messages 0\nlog_type all\nlog_dest file ${logFile}\n`,
  });
  cleanup.push(() => mosq.cleanup());
  const clientId = `edgehook-rm${protocolVersion}`;
  const port = await freePort();
  const yaml = `agentId: gw-rm
mqtt: { url: '${mosq.url}', clientId: ${clientId}, protocolVersion: ${protocolVersion} }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev.{1}' } ]
endpoints: [ { id: cloud, url: 'http://127.0.0.1:${port}/hooks', secret: ${SECRET}, timeoutMs: 2000 } ]
storage: { maxBytes: 128KiB, whenFull: stop-ingest }
admin: { port: 0 }
`;
  const dataDir = tempDir();
  const agent: Agent = await startAgent(yaml, { dataDir });
  cleanup.push(() => agent.stop());
  const device = await mqtt.connectAsync(mosq.url, { clientId: `device-rm${protocolVersion}` });
  cleanup.push(() => device.endAsync());
  await publishUntilStored(device, agent, 'd/probe', '{"probe":true}');
  const pad = 'x'.repeat(150);
  for (let i = 0; i < TOTAL; i += 500) {
    await Promise.all(
      [...Array(Math.min(500, TOTAL - i)).keys()].map((k) =>
        device.publishAsync('d/x', JSON.stringify({ i: i + k, pad }), { qos: 1 }),
      ),
    );
  }
  return { agent, port, clientId, logFile, yaml, dataDir };
}

async function deliverAll(agent: Agent, port: number) {
  const receiver = await new Receiver([SECRET]).start(port);
  cleanup.push(() => receiver.stop());
  await waitFor(
    () => new Set(receiver.delivered.map((r) => r.id)).size >= TOTAL + 1,
    `all ${TOTAL} messages and the probe delivered`,
    120_000,
    200,
  );
  const values = receiver.delivered
    .map((r) => (JSON.parse(r.body) as { data: { i?: number } }).data.i)
    .filter((i) => i !== undefined);
  expect(new Set(values).size).toBe(TOTAL);
  expect(agent.status().mqtt.held).toBe(0);
}

it('MQTT 5: the broker stops at the Receive Maximum while the agent holds its acks', async () => {
  const { agent, port, clientId, logFile } = await holdAcksAndFlood(5);
  // Every message the broker has out is held by the agent, unacked: the window is full.
  await waitFor(
    () => agent.status().mqtt.holding && agent.status().mqtt.held >= RECEIVE_MAXIMUM,
    `the agent to hold ${RECEIVE_MAXIMUM} messages`,
    20_000,
    100,
  );
  // The log is complete once it shows as many unacked as the agent holds; a broker that
  // ignored the limit would by then have sent far more (it has all 5,000 to send).
  const counts = await waitFor(
    () => {
      const c = brokerCounts(logFile, clientId);
      return c.unacked >= agent.status().mqtt.held ? c : undefined;
    },
    "Mosquitto's log to show what it sent",
    10_000,
    100,
  );
  expect(counts.sent).toBeLessThan(TOTAL);
  expect(counts.unacked).toBeLessThanOrEqual(RECEIVE_MAXIMUM);
  expect(agent.status().mqtt.held).toBeLessThanOrEqual(RECEIVE_MAXIMUM);
  await deliverAll(agent, port);
}, 180_000);

it('MQTT 3.1.1: no window from the broker; the agent parks its socket at 2,000 held', async () => {
  const { agent, port, clientId, logFile, yaml, dataDir } = await holdAcksAndFlood(4);
  await waitFor(
    () => agent.status().mqtt.holding && agent.status().mqtt.held >= MAX_HELD - 500,
    'ingest to hold back',
    20_000,
    100,
  );
  // What the broker sent beyond the bound waits in the socket, unread; the agent holds no more.
  await waitFor(
    () => brokerCounts(logFile, clientId).unacked > MAX_HELD,
    'Mosquitto to have sent more than the agent holds',
    10_000,
    100,
  );
  expect(agent.status().mqtt.held).toBeLessThanOrEqual(MAX_HELD);
  // Stopping while parked: the socket is never read to its end, yet stop() returns, and
  // nothing it held unacked is lost: the broker sends it again to the next run.
  let stopped = false;
  void agent.stop().then(() => (stopped = true));
  await waitFor(() => stopped, 'the parked agent to stop', 15_000, 50);
  const again = await startAgent(yaml, { dataDir });
  cleanup.push(() => again.stop());
  await deliverAll(again, port);
}, 180_000);
