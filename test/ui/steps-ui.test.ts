import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/net.js';
import { launchChromium, openUi, seriousProblems, describeInChromium, type UiSession } from './browser.js';
import { CONFIG_COMMENTS, startUiFixture, type UiFixture } from './ui-fixture.js';

/**
 * The steps editor and the Try it panel of the Subscriptions page (README, "Edge processing"),
 * in real Chromium against a running agent whose config file the edits are written into.
 */

describeInChromium('the steps editor and Try it, in Chromium', () => {
  let browser: Browser;
  let fx: UiFixture;
  let ui: UiSession;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    fx = await startUiFixture();
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.stop();
  });
  afterEach(async () => {
    const problems = ui ? seriousProblems(ui.problems) : [];
    await ui?.context.close();
    expect(problems, 'CSP violations or script errors in the page').toEqual([]);
  });

  const editTemperature = async () => {
    await page.getByRole('link', { name: 'Subscriptions', exact: true }).click();
    const row = page.getByRole('row').filter({ hasText: 'sensors/+/temperature' });
    await row.getByRole('link', { name: 'Edit' }).click();
    await expect.poll(() => page.getByLabel('Topic filter').inputValue()).toBe('sensors/+/temperature');
  };
  const step = (n: number, kind: string) => page.getByRole('group', { name: `Step ${n}: ${kind}` });
  const tryIt = async (payload: string) => {
    const panel = page.getByRole('region', { name: 'Try it' });
    await panel.getByLabel('Message topic').fill('sensors/kitchen/temperature');
    await panel.getByLabel('Message payload').fill(payload);
    await panel.getByRole('button', { name: 'Try it' }).click();
    const out = panel.getByRole('status');
    await expect.poll(() => out.textContent()).toMatch(/^(reported|filtered|held|rejected)/);
    return (await out.textContent()) ?? '';
  };

  it('adds a deadband step, saves it into the file, and Try it shows reported then filtered', async () => {
    ui = await openUi(browser, fx.agent);
    page = ui.page;
    await editTemperature();

    await page.getByLabel('State key').fill('{1}');
    await page.getByLabel('Kind of step to add').selectOption('deadband');
    await page.getByRole('button', { name: 'Add step' }).click();
    const deadband = step(1, 'deadband');
    await deadband.getByLabel('Path', { exact: true }).fill('celsius');
    // Checked as you type.
    await deadband.getByLabel('By', { exact: true }).fill('half');
    await deadband.getByText('by is a number above 0').waitFor();
    await deadband.getByLabel('By', { exact: true }).fill('0.5');
    await deadband.getByLabel('Range', { exact: true }).fill('10, 5');
    await deadband.getByText('max must be above min').waitFor();
    await deadband.getByLabel('Range', { exact: true }).fill('');
    await deadband.getByLabel('Max silence (s)').fill('300');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved the subscription to sensors\/\+\/temperature/).waitFor();

    const text = await waitFor(
      () => (fx.config().includes('deadband') ? fx.config() : undefined),
      'the config file to hold the step',
    );
    expect(text).toMatch(/key: "?\{1\}"?/);
    expect(text).toMatch(/deadband:/);
    expect(text).toMatch(/path: celsius/);
    expect(text).toMatch(/by: 0\.5/);
    expect(text).toMatch(/maxSilenceSeconds: 300/);
    for (const c of CONFIG_COMMENTS) expect(text).toContain(c);
    expect(fx.agent.config.subscriptions[0]!.steps).toEqual([
      { deadband: { path: 'celsius', by: 0.5, maxSilenceSeconds: 300 } },
    ]);

    // The saved step comes back into the editor.
    await editTemperature();
    await expect
      .poll(() => step(1, 'deadband').getByLabel('Path', { exact: true }).inputValue())
      .toBe('celsius');

    // No state yet for the kitchen: the first reading is reported.
    const first = await tryIt('{"celsius": 21.5}');
    expect(first).toMatch(/^reported/);
    expect(first).toContain('sensor.kitchen.temperature');
    expect(first).toContain('21.5');

    // A real reading sets the deadband's state; the counts on the list show it.
    const device = await mqtt.connectAsync(fx.agent.broker!.url);
    await device.publishAsync('sensors/kitchen/temperature', '{"celsius": 21.5}', { qos: 1 });
    await device.endAsync();
    await waitFor(
      () => fx.ok.requests.find((r) => r.json.topic === 'sensors/kitchen/temperature'),
      'the reading at the receiver',
    );
    const row = page.getByRole('row').filter({ hasText: 'sensors/+/temperature' });
    await expect
      .poll(() => row.locator('td.counts').textContent(), { timeout: 10_000 })
      .toMatch(/^1 in · 1 out/);

    // Within 0.5 of the last reported value: filtered. Nothing was stored by Try it.
    expect(await tryIt('{"celsius": 21.7}')).toMatch(/^filtered/);
    expect(await tryIt('{"celsius": 22.1}')).toMatch(/^reported/);
    expect(fx.ok.requests.filter((r) => r.json.topic === 'sensors/kitchen/temperature')).toHaveLength(1);
  });

  it('puts the server error of a bad expression next to its step, and reorders steps', async () => {
    ui = await openUi(browser, fx.agent);
    page = ui.page;
    await editTemperature();
    await page.getByLabel('Kind of step to add').selectOption('map');
    await page.getByRole('button', { name: 'Add step' }).click();
    const map = step(2, 'map');
    await map.getByLabel('Map expression').fill('{"celsius": celsius');

    // Saving answers 400 with the error by path (subscriptions[0].steps[1].map): still on step 2.
    const before = fx.config();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/see the fields marked below/).waitFor();
    await map.getByText(/not a JSONata expression/).waitFor();
    expect(await map.getByLabel('Map expression').getAttribute('aria-invalid')).toBe('true');
    expect(fx.config()).toBe(before);
    expect(
      await step(1, 'deadband')
        .getByText(/not a JSONata expression/)
        .count(),
    ).toBe(0);

    // Try it validates the subscription as edited too: another bad one, again on step 2.
    await map.getByLabel('Map expression').fill('celsius +');
    expect(await map.getByText(/not a JSONata expression/).count()).toBe(0);
    await page.getByRole('region', { name: 'Try it' }).getByRole('button', { name: 'Try it' }).click();
    await map.getByText(/not a JSONata expression/).waitFor();
    await page.getByText('Could not try it: see the fields marked above.').waitFor();

    // Fixed, moved first, saved: the file has the steps in the new order.
    await map.getByLabel('Map expression').fill('{"celsius": celsius}');
    await page.getByRole('button', { name: 'Move step 2 up' }).click();
    await expect
      .poll(() => step(1, 'map').getByLabel('Map expression').inputValue())
      .toBe('{"celsius": celsius}');
    await expect.poll(() => step(2, 'deadband').getByLabel('By', { exact: true }).inputValue()).toBe('0.5');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved the subscription to sensors\/\+\/temperature/).waitFor();
    await expect
      .poll(() => fx.agent.config.subscriptions[0]!.steps?.map((s) => Object.keys(s)[0]))
      .toEqual(['map', 'deadband']);
    const text = fx.config();
    expect(text.indexOf('map:')).toBeGreaterThan(0);
    expect(text.indexOf('map:')).toBeLessThan(text.indexOf('deadband:'));

    // Removing every step removes them from the file.
    await editTemperature();
    await page.getByRole('button', { name: 'Remove step 2' }).click();
    await page.getByRole('button', { name: 'Remove step 1' }).click();
    await page.getByText('No steps: every message becomes an event as it is.').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Saved the subscription to sensors\/\+\/temperature/).waitFor();
    await waitFor(() => (fx.config().includes('deadband') ? undefined : true), 'the steps to leave the file');
    for (const c of CONFIG_COMMENTS) expect(fx.config()).toContain(c);
  });
});
