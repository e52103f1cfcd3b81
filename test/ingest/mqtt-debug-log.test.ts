import { afterEach, expect, it } from 'vitest';
import { AgentProcess, tempDir } from '../helpers/agent.js';
import { freePort, waitFor } from '../helpers/net.js';

/**
 * mqtt.js's own log is silenced unless DEBUG asks for it (its `debug` logger costs allocations
 * even when off, see MqttSource): `DEBUG=mqttjs*`, as mqtt.js documents, still prints it.
 * The agent runs as a user runs it, on the embedded broker.
 */

let agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents) await a.cleanup();
  agents = [];
});

async function agentWith(env: Record<string, string>) {
  const port = await freePort();
  const agent = new AgentProcess(
    tempDir('edgehook-mqttdebug-'),
    `mqtt: { url: embedded, embedded: { port: ${port} } }
subscriptions: [ { topic: 'sensors/#', qos: 1 } ]
endpoints: [ { url: 'http://127.0.0.1:9/hooks' } ]
admin: { port: 0 }
`,
  );
  agents.push(agent);
  agent.env = env;
  await agent.start();
  await waitFor(async () => (await agent.status()).mqtt.connected, 'the agent to connect', 20_000, 100);
  return agent;
}

it('DEBUG=mqttjs* prints mqtt.js’s log of the connection; without it, none', async () => {
  const quiet = await agentWith({ DEBUG: '' });
  const loud = await agentWith({ DEBUG: 'mqttjs*' });
  await waitFor(() => /mqttjs:client connect/.test(loud.output), 'mqtt.js log lines', 10_000, 50);
  expect(quiet.output).not.toMatch(/mqttjs:/);
});
