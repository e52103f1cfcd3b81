import mqtt, { type MqttClient } from 'mqtt';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { Receiver } from '../helpers/receiver.js';
import { DT, encode } from '../ingest/sparkplug-fixture.js';
import { launchChromium, openUi, seriousProblems, describeInChromium } from './browser.js';

describeInChromium('Sparkplug B nodes on the dashboard, in Chromium', () => {
  let browser: Browser;
  let agent: Agent;
  let receiver: Receiver;
  let edge: MqttClient;

  beforeAll(async () => {
    browser = await launchChromium();
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(`
agentId: gw-spb-ui
logLevel: silent
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'spBv1.0/#', qos: 1, type: 'spb.{1}', payload: sparkplug }
endpoints:
  - { id: cloud, url: '${receiver.url}', secret: ${SECRET} }
admin: { host: 127.0.0.1, port: 0, token: ui-test-token-0123456789 }
`);
    edge = await mqtt.connectAsync(agent.broker!.url, { clientId: 'edge-spb-ui' });
  });
  afterAll(async () => {
    await edge?.endAsync();
    await browser?.close();
    await agent?.stop();
    await receiver?.stop();
  });

  it('shows a node online with its BIRTH time after NBIRTH/DBIRTH, offline after NDEATH', async () => {
    const ui = await openUi(browser, agent);
    const { page } = ui;
    const card = page.getByRole('region', { name: 'Sparkplug B nodes' });
    await card.getByText('No Sparkplug B node seen yet', { exact: false }).waitFor();

    await edge.publishAsync(
      'spBv1.0/Plant1/NBIRTH/Edge1',
      encode({
        timestamp: 1700000000000,
        seq: 0,
        metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: 4 }],
      }),
      { qos: 1 },
    );
    await edge.publishAsync(
      'spBv1.0/Plant1/DBIRTH/Edge1/Press',
      encode({ seq: 1, metrics: [{ name: 'Speed', alias: 1, datatype: DT.Double, doubleValue: 1.5 }] }),
      { qos: 1 },
    );
    const node = card.getByRole('row', { name: /^Plant1\/Edge1 edge node/ });
    const dev = card.getByRole('row', { name: /^Plant1\/Edge1\/Press device/ });
    await expect.poll(() => node.textContent(), { timeout: 15_000 }).toContain('online');
    await expect.poll(() => dev.textContent(), { timeout: 15_000 }).toContain('online');
    // The BIRTH time the agent recorded, as the page formats it (UTC in this browser context).
    const birthAt = agent.status().sparkplug!.nodes[0]!.birthAt!;
    const shown = new Date(birthAt).toISOString().slice(0, 19).replace('T', ' ');
    expect(await node.textContent()).toContain(shown);

    await edge.publishAsync(
      'spBv1.0/Plant1/NDEATH/Edge1',
      encode({ metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: 4 }] }),
      { qos: 1 },
    );
    await expect.poll(() => node.textContent(), { timeout: 15_000 }).toContain('offline');
    await expect.poll(() => dev.textContent(), { timeout: 15_000 }).toContain('offline');
    // The last BIRTH time stays after the DEATH.
    expect(await node.textContent()).toContain(shown);

    const problems = seriousProblems(ui.problems);
    await ui.context.close();
    expect(problems, 'CSP violations or script errors in the page').toEqual([]);
  }, 60_000);
});
