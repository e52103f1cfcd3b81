import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Agent } from '../../src/agent/create-agent.js';
import { publishUntilStored, startAgent, tempDir } from '../helpers/agent.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/net.js';
import { makePki, type TestPki } from '../helpers/tls.js';

/**
 * `mqtts://` to a real Mosquitto with TLS (README "Configuration", `mqtt.tls`): the agent builds
 * its TLS connection itself, without mqtt.js's connect() (src/ingest/mqtt-connect.ts), so
 * each promise of that path is checked here: a trusted server by IP and by name, a client
 * certificate when the broker requires one, and no connection to a server the CA does not vouch for.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function tlsBroker(
  requireCertificate: boolean,
): Promise<{ mosq: Mosquitto; tlsPort: number; pki: TestPki }> {
  const dir = tempDir('edgehook-mqtts-');
  mkdirSync(join(dir, 'pki'));
  const pki = makePki(join(dir, 'pki'));
  const tlsPort = await freePort();
  const mosq = await startMosquitto({
    extraConfig: [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.caCert}`,
      `certfile ${pki.serverCert}`,
      `keyfile ${pki.serverKey}`,
      `require_certificate ${requireCertificate}`,
      '',
    ].join('\n'),
  });
  cleanup.push(() => mosq.cleanup());
  return { mosq, tlsPort, pki };
}

async function agentOn(url: string, tls: string, clientId = 'edgehook-tls'): Promise<Agent> {
  const agent = await startAgent(`agentId: gw-tls
mqtt: { url: '${url}', clientId: ${clientId}, tls: ${tls} }
subscriptions: [ { topic: 'd/#', qos: 1 } ]
endpoints: [ { url: 'http://127.0.0.1:9/hooks' } ]
admin: { port: 0 }
`);
  cleanup.push(() => agent.stop());
  return agent;
}

/** Publishes on the plain listener until the agent has stored a message from the TLS one. */
async function receives(agent: Agent, mosq: Mosquitto): Promise<void> {
  await waitFor(() => agent.status().mqtt.connected, 'the agent to connect over TLS', 20_000, 50);
  const device = await mqtt.connectAsync(mosq.url, { clientId: 'device-tls' });
  cleanup.push(() => device.endAsync());
  await publishUntilStored(device, agent, 'd/x', '{"v":1}', 'a message through the TLS connection');
}

it('connects to mqtts:// by IP and by host name with a private CA, and receives', async () => {
  const { mosq, tlsPort, pki } = await tlsBroker(false);
  const byIp = await agentOn(`mqtts://127.0.0.1:${tlsPort}`, `{ ca: '${pki.caCert}' }`);
  await receives(byIp, mosq);
  await byIp.stop();
  // By name: the certificate is checked against "localhost" (SNI and the name check).
  const byName = await agentOn(`mqtts://localhost:${tlsPort}`, `{ ca: '${pki.caCert}' }`);
  await waitFor(() => byName.status().mqtt.connected, 'the agent to connect by name', 20_000, 50);
});

it('sends its client certificate when the broker requires one', async () => {
  const { mosq, tlsPort, pki } = await tlsBroker(true);
  const agent = await agentOn(
    `mqtts://127.0.0.1:${tlsPort}`,
    `{ ca: '${pki.caCert}', cert: '${pki.clientCert}', key: '${pki.clientKey}' }`,
  );
  await receives(agent, mosq);
});

it('does not connect to a server its CA does not vouch for, unless told not to check', async () => {
  const { tlsPort } = await tlsBroker(false);
  const other = makePki(tempDir('edgehook-other-ca-'));
  const strict = await agentOn(
    `mqtts://127.0.0.1:${tlsPort}`,
    `{ ca: '${other.caCert}' }`,
    'edgehook-strict',
  );
  const insecure = await agentOn(
    `mqtts://127.0.0.1:${tlsPort}`,
    '{ rejectUnauthorized: false }',
    'edgehook-insecure',
  );
  await waitFor(() => insecure.status().mqtt.connected, 'the unchecking agent to connect', 20_000, 50);
  // The checking agent has had as long as the other one and several attempts: still not connected.
  expect(strict.status().mqtt.connected).toBe(false);
});
