import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from '../../src/agent/create-agent.js';
import { startAgent, tempDir } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * A real agent for the browser tests: embedded broker and admin server on free ports, a config
 * file on disk (UI edits are written back into it), and real receivers that verify signatures.
 */

export const OK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
export const FLAKY_SECRET = 'whsec_dGhlLWZsYWt5LXJlY2VpdmVyLXNlY3JldC0xMjM=';

export const CONFIG_COMMENTS = [
  '# Edgehook UI test: every comment here must survive edits made in the browser',
  '# kitchen and garage sensors',
  '# one level of wildcard',
  '# answers 200 and verifies every signature',
];

export interface UiFixture {
  agent: Agent;
  dir: string;
  configFile: string;
  ok: Receiver;
  flaky: Receiver;
  config(): string;
  stop(): Promise<void>;
}

export async function startUiFixture(extraEndpoints = ''): Promise<UiFixture> {
  const dir = tempDir('edgehook-ui-agent-');
  const ok = await new Receiver([OK_SECRET]).start();
  const flaky = await new Receiver([FLAKY_SECRET]).start();
  const configFile = join(dir, 'edgehook.yaml');
  const yaml = `${CONFIG_COMMENTS[0]}
agentId: gateway-01
logLevel: silent
mqtt:
  url: embedded
  embedded: { host: 127.0.0.1, port: 0 }
subscriptions:
  ${CONFIG_COMMENTS[1]}
  - topic: sensors/+/temperature   ${CONFIG_COMMENTS[2]}
    qos: 1
    type: sensor.{1}.temperature
  - topic: devices/#
    qos: 1
    payload: text
endpoints:
  - id: cloud   ${CONFIG_COMMENTS[3]}
    url: ${ok.url}
    secret: ${OK_SECRET}
    types: ["sensor.*", "edgehook.*"]
  - id: flaky
    url: ${flaky.url}
    secret: ${FLAKY_SECRET}
    types: ["edgehook.*", "device.*", "devices.*"]
    retry: { schedule: [0.2] }
${extraEndpoints}admin:
  host: 127.0.0.1
  port: 0
  token: ui-test-token-0123456789
`;
  writeFileSync(configFile, yaml);
  const agent = await startAgent(yaml, { dataDir: join(dir, 'data'), configFile });
  return {
    agent,
    dir,
    configFile,
    ok,
    flaky,
    config: () => readFileSync(configFile, 'utf8'),
    async stop() {
      await agent.stop();
      await ok.stop();
      await flaky.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
