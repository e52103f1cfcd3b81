import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/agent.js';
import { freePort, waitFor } from '../helpers/net.js';
import { launchChromium, openUi, seriousProblems, describeInChromium, type UiSession } from './browser.js';
import { startUiFixture, type UiFixture } from './ui-fixture.js';

/**
 * Every page with real data in it: sensors publishing over MQTT, a healthy endpoint, one that
 * rejects, rejected payloads. The screenshots go to a temp folder; with
 * EDGEHOOK_SCREENSHOT_DIR=docs/screenshots they refresh the README's pictures.
 */
const OUT = process.env.EDGEHOOK_SCREENSHOT_DIR ?? tempDir('edgehook-shots-');

describeInChromium('screenshots of every page, with real data', () => {
  let browser: Browser;
  let fx: UiFixture;
  let ui: UiSession;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    browser = await launchChromium();
    // A third endpoint whose receiver is down: it backs off and its queue grows.
    const down = await freePort();
    fx = await startUiFixture(
      `  - id: backup\n    url: http://127.0.0.1:${down}/hooks\n    types: ["sensor.kitchen.*"]\n`,
    );
    fx.flaky.respond = ({ body }) =>
      body.includes('"edgehook.test"')
        ? { status: 422, body: '{"error":"unknown event type edgehook.test"}' }
        : { status: 200 };
  });
  afterAll(async () => {
    await ui?.context.close();
    await browser?.close();
    await fx?.stop();
  });

  it('takes them', async () => {
    ui = await openUi(browser, fx.agent, { width: 1280, height: 900 });
    page = ui.page;

    // Traffic while the dashboard is open, so the live chart has a few seconds of history.
    const device = await mqtt.connectAsync(fx.agent.broker!.url);
    const rooms = ['kitchen', 'garage', 'attic', 'cellar'];
    const rate = [3, 5, 8, 12, 9, 14, 18, 11, 7, 10, 6, 4];
    for (let s = 0; s < rate.length; s++) {
      const started = Date.now();
      for (let i = 0; i < rate[s]!; i++) {
        const room = rooms[(s + i) % rooms.length]!;
        await device.publishAsync(
          `sensors/${room}/temperature`,
          JSON.stringify({ celsius: Math.round((18 + Math.sin(s + i) * 4) * 10) / 10 }),
          { qos: 1 },
        );
      }
      if (s === 4) {
        await device.publishAsync('sensors/attic/temperature', 'twenty-one degrees', { qos: 1 });
        await device.publishAsync('devices/door-3/state', 'open', { qos: 1 });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
    await device.endAsync();

    // One test event to each endpoint: "flaky" answers 422, retries once, then fails.
    for (const id of ['cloud', 'flaky']) {
      const res = await page.request.post(`${fx.agent.adminUrl}/api/endpoints/${id}/test`, { data: {} });
      expect(res.status()).toBe(202);
    }
    await waitFor(() => fx.agent.status().outbox.failed >= 1, 'a failed delivery', 15_000);
    await waitFor(
      () => fx.agent.status().endpoints.every((e) => e.id === 'backup' || e.pending === 0),
      'the healthy queues to drain',
      15_000,
    );

    await page.getByText(/Last second:/).waitFor();
    await page.getByRole('heading', { name: 'Rejected events' }).waitFor();
    // The stream's status events lag by up to 500 ms: wait for the page to show the dead letter.
    await page.locator('.stat').filter({ hasText: 'Failed' }).getByText('1', { exact: true }).waitFor();
    await shot('dashboard');

    await page.goto(`${fx.agent.adminUrl}/#/endpoints/flaky`);
    await page.getByRole('button', { name: 'Send test event' }).waitFor();
    await shot('endpoints');

    await page.goto(`${fx.agent.adminUrl}/#/subscriptions/0`);
    await page.getByLabel('Topic filter').waitFor();
    await shot('subscriptions');

    await page.goto(`${fx.agent.adminUrl}/#/deliveries`);
    const failed = page.getByRole('row').filter({ hasText: 'failed' }).first();
    await failed.getByRole('button', { name: 'Details' }).click();
    await page
      .getByRole('region', { name: /Attempts of event/ })
      .getByRole('cell', { name: '422', exact: true })
      .first()
      .waitFor();
    await shot('deliveries', false);

    await page.goto(`${fx.agent.adminUrl}/#/settings`);
    await page.getByLabel('Agent ID').waitFor();
    await shot('settings');

    await page.setViewportSize({ width: 375, height: 812 });
    await page.goto(`${fx.agent.adminUrl}/#/dashboard`);
    await page.getByText(/Last second:/).waitFor();
    await shot('narrow-dashboard');
    await page.goto(`${fx.agent.adminUrl}/#/deliveries`);
    await page.getByRole('row').filter({ hasText: 'delivered' }).first().waitFor();
    await shot('narrow-deliveries', false);

    expect(seriousProblems(ui.problems)).toEqual([]);
  });

  async function shot(name: string, fullPage = true): Promise<void> {
    // The content each caller waited for is there; let the last layout and the chart paint.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage });
  }
});
