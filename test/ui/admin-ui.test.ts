import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';
import { launchChromium, openUi, seriousProblems, describeInChromium, type UiSession } from './browser.js';
import { CONFIG_COMMENTS, OK_SECRET, startUiFixture, type UiFixture } from './ui-fixture.js';

const FAKE_DESKTOP = `
  window.__desktopCalls = [];
  window.edgehookDesktop = Object.freeze({
    info: async () => ({ version: '0.1.0', platform: 'linux', configFile: '/home/me/.config/Edgehook/edgehook.yaml',
      dataDir: '/home/me/.config/Edgehook/data', logFile: '/home/me/.config/Edgehook/edgehook.log', startAtLogin: false, packaged: true }),
    openDataFolder: async () => void window.__desktopCalls.push('openDataFolder'),
    openConfigFile: async () => void window.__desktopCalls.push('openConfigFile'),
    openLogFile: async () => void window.__desktopCalls.push('openLogFile'),
    setStartAtLogin: async (v) => v,
  });
`;

const PAGES = ['Dashboard', 'Endpoints', 'Subscriptions', 'Deliveries', 'Settings'] as const;

/** What shows that a page's data has arrived. */
const READY: Record<(typeof PAGES)[number], (p: Page) => ReturnType<Page['locator']>> = {
  Dashboard: (p) => p.getByRole('link', { name: 'flaky', exact: true }),
  Endpoints: (p) => p.getByRole('link', { name: 'cloud', exact: true }),
  Subscriptions: (p) => p.getByRole('rowheader', { name: 'devices/#' }),
  Deliveries: (p) => p.locator('.pager button'),
  Settings: (p) => p.getByLabel('Agent ID'),
};

describeInChromium('the admin UI in Chromium, against a running agent', () => {
  let browser: Browser;
  let fx: UiFixture;
  let ui: UiSession;
  let page: Page;
  const extra: Receiver[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    fx = await startUiFixture();
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.stop();
    for (const r of extra) await r.stop();
  });

  const open = async (viewport?: { width: number; height: number }) => {
    ui = await openUi(browser, fx.agent, viewport);
    page = ui.page;
  };
  afterEach(async () => {
    const problems = ui ? seriousProblems(ui.problems) : [];
    await ui?.context.close();
    expect(problems, 'CSP violations or script errors in the page').toEqual([]);
  });

  const go = async (name: (typeof PAGES)[number]) => {
    await page.getByRole('link', { name, exact: true }).click();
    await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
  };

  it('every nav link loads its page', async () => {
    await open();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Dashboard');
    for (const name of PAGES) {
      await go(name);
      expect(await page.title()).toBe(`${name} · Edgehook`);
      expect(await page.getByRole('link', { name, exact: true }).getAttribute('aria-current')).toBe('page');
    }
    // The pages show the agent's real state, read over the API.
    await go('Dashboard');
    await page.getByText('Connected', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'flaky', exact: true }).waitFor();
    // No subscription decodes Sparkplug B: the status leaves it out and the dashboard has no card.
    expect(fx.agent.status().sparkplug).toBeUndefined();
    expect(await page.getByRole('heading', { name: 'Sparkplug B nodes' }).isVisible()).toBe(false);
    await go('Endpoints');
    await page.getByRole('link', { name: 'cloud', exact: true }).waitFor();
    await go('Subscriptions');
    await page.getByRole('rowheader', { name: 'sensors/+/temperature' }).waitFor();
    await go('Settings');
    await expect.poll(() => page.getByLabel('Agent ID').inputValue()).toBe('gateway-01');
  });

  it('adds an endpoint through the form, sends a test event and shows it in Deliveries', async () => {
    await open();
    await go('Endpoints');
    await page.getByRole('button', { name: 'Add endpoint' }).click();

    // Validation as you type, before anything is sent.
    await page.getByLabel('ID', { exact: true }).fill('bad id!');
    await page.getByText(/an ID is 1–64 letters/).waitFor();
    await page.getByLabel('ID', { exact: true }).fill('ui-added');
    await expect.poll(() => page.getByText(/an ID is 1–64 letters/).count()).toBe(0);
    await page.getByLabel('URL', { exact: true }).fill('ftp://example.com/hooks');
    await page.getByText('the URL must start with http:// or https://').waitFor();
    expect(await page.getByLabel('URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');

    const port = await freePort();
    await page.getByLabel('URL', { exact: true }).fill(`http://127.0.0.1:${port}/hooks`);
    expect(await page.getByLabel('URL', { exact: true }).getAttribute('aria-invalid')).toBeNull();
    await page.getByLabel('Event types').fill('edgehook.*, sensor.*');
    await page.getByRole('button', { name: 'Save' }).click();

    // The generated secret is shown once; the receiver verifies with it.
    const secret = (await page.locator('code.secret').first().textContent())!.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    const receiver = await new Receiver([secret]).start(port);
    extra.push(receiver);
    expect(fx.config()).toContain('id: ui-added');

    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText(/Test event queued/).waitFor();
    const got = await waitFor(
      () => receiver.requests.find((r) => r.json.type === 'edgehook.test'),
      'the test event at the receiver',
    );
    expect(got.verified).toBe(true);

    await page.getByRole('link', { name: 'See it in Deliveries' }).click();
    await page.getByRole('heading', { level: 1, name: 'Deliveries' }).waitFor();
    expect(await page.getByLabel('Endpoint', { exact: true }).inputValue()).toBe('ui-added');
    const row = page.getByRole('row').filter({ hasText: 'edgehook.test' }).filter({ hasText: 'ui-added' });
    await row.getByText('delivered', { exact: true }).waitFor();

    // Its attempts: status, duration, the receiver's answer.
    await row.getByRole('button', { name: 'Details' }).click();
    const attempts = page.getByRole('region', { name: /Attempts of event/ });
    await attempts.getByRole('cell', { name: 'delivered', exact: true }).waitFor();
    await attempts.getByRole('cell', { name: '200', exact: true }).waitFor();

    // Disable, enable, then delete it (two clicks, no browser dialog).
    await page.goto(`${fx.agent.adminUrl}/#/endpoints/ui-added`);
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByText('ui-added is disabled').waitFor();
    await expect.poll(() => fx.config()).toMatch(/id: ui-added[\s\S]*enabled: false/);
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByText('ui-added is enabled.').waitFor();
    await page.getByRole('button', { name: 'Delete endpoint' }).click();
    await page.getByRole('button', { name: 'Click again to delete' }).click();
    await page.getByRole('link', { name: 'cloud', exact: true }).waitFor();
    expect(await page.getByRole('link', { name: 'ui-added', exact: true }).count()).toBe(0);
    expect(fx.config()).not.toContain('ui-added');
  });

  it('switches an endpoint to CloudEvents from the form: only what is sent after the save changes', async () => {
    await open();
    const port = await freePort();
    const receiver = await new Receiver([OK_SECRET]).start(port);
    extra.push(receiver);
    await page.goto(`${fx.agent.adminUrl}/#/endpoints/new`);
    await page.getByLabel('ID', { exact: true }).fill('fmt');
    await page.getByLabel('URL', { exact: true }).fill(receiver.url);
    await page.getByLabel('Secret', { exact: true }).fill(OK_SECRET);
    await page.getByLabel('Event types').fill('edgehook.*');
    // A Format select, with a line on what each format is for.
    const format = page.getByLabel('Format', { exact: true });
    expect(await format.inputValue()).toBe('edgehook/1');
    expect(await format.locator('option').allTextContents()).toEqual(['edgehook/1', 'cloudevents/1.0']);
    await page.getByText(/^edgehook\/1: Edgehook's own envelope/).waitFor();
    await page.getByText(/^cloudevents\/1\.0: CloudEvents 1\.0 JSON, for Knative/).waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Send test event' }).waitFor();
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText(/Test event queued: .* sent as edgehook\/1/).waitFor();
    const before = await waitFor(() => receiver.delivered[0], 'the edgehook/1 test event');
    expect(before.headers['webhook-format']).toBe('edgehook/1');

    await page.goto(`${fx.agent.adminUrl}/#/endpoints/fmt`);
    await page.getByLabel('Format', { exact: true }).selectOption('cloudevents/1.0');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => fx.config()).toMatch(/id: fmt[\s\S]*format: cloudevents\/1\.0/);
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText(/Test event queued: .* sent as cloudevents\/1\.0/).waitFor();
    const after = await waitFor(() => receiver.delivered[1], 'the cloudevents/1.0 test event');
    expect(after.headers['webhook-format']).toBe('cloudevents/1.0');
    expect(after.headers['content-type']).toBe('application/cloudevents+json');
    expect(after.json).toMatchObject({
      specversion: '1.0',
      type: 'edgehook.test',
      source: 'edgehook://gateway-01',
    });
    expect(after.verified).toBe(true);
    // The event delivered before the switch is not sent again.
    expect(receiver.requests.filter((r) => r.id === before.id)).toHaveLength(1);

    // The delivery detail shows the body exactly as it was sent.
    await page.goto(`${fx.agent.adminUrl}/#/deliveries?endpoint=fmt`);
    // Newest first: the CloudEvents one.
    const row = page.getByRole('row').filter({ hasText: 'edgehook.test' }).filter({ hasText: 'fmt' }).first();
    await row.getByRole('button', { name: 'Details' }).click();
    await page.getByText('Webhook body as sent (cloudevents/1.0)').click();
    await expect.poll(() => page.locator('pre.body').textContent()).toBe(after.body);
    const deleted = await fetch(`${fx.agent.adminUrl}/api/endpoints/fmt`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer ui-test-token-0123456789' },
    });
    expect(deleted.status).toBe(204);
  });

  it("shows the server's field errors next to the input they are about", async () => {
    await open();
    await page.goto(`${fx.agent.adminUrl}/#/endpoints/new`);
    await page.getByLabel('ID', { exact: true }).fill('cloud');
    await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9/hooks');
    await page.getByRole('button', { name: 'Save' }).click();
    // "cloud" exists: the server refuses it, by field.
    const id = page.getByLabel('ID', { exact: true });
    await expect.poll(() => id.getAttribute('aria-invalid')).toBe('true');
    const errorId = (await id.getAttribute('aria-describedby'))!.split(' ').pop()!;
    expect(await page.locator(`[id="${errorId}"]`).textContent()).toMatch(/\S/);
    await page.getByRole('alert').filter({ hasText: /./ }).first().waitFor();
  });

  it('retries a failed delivery from the UI once the receiver is fixed', async () => {
    fx.flaky.respond = () => ({ status: 400, body: '{"error":"schema mismatch"}' });
    await open();
    await page.goto(`${fx.agent.adminUrl}/#/endpoints/flaky`);
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText(/Test event queued/).waitFor();
    // 400 is message trouble: one retry after 0.2 s (retry.schedule), then a dead letter.
    await waitFor(() => fx.flaky.requests.length >= 2, 'two rejected attempts', 15_000);

    await go('Deliveries');
    await page.getByLabel('Endpoint', { exact: true }).selectOption('flaky');
    await page.getByLabel('Status', { exact: true }).selectOption('failed');
    const row = page.getByRole('row').filter({ hasText: 'edgehook.test' });
    await row.getByText('failed', { exact: true }).waitFor({ timeout: 15_000 });
    await row.getByText('HTTP 400').waitFor();
    await row.getByRole('button', { name: 'Details' }).click();
    await page.getByText('{"error":"schema mismatch"}').first().waitFor();

    fx.flaky.respond = () => ({ status: 204 });
    const before = fx.flaky.requests.length;
    await row.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(/Retrying event \d+ to flaky/).waitFor();
    const retried = await waitFor(
      () => fx.flaky.requests.slice(before).find((r) => r.json.type === 'edgehook.test'),
      'the retried delivery',
    );
    expect(retried.verified).toBe(true);
    // The same webhook-id across retries (the first request to this endpoint was agent.started).
    expect(retried.id).toBe(fx.flaky.requests.find((r) => r.json.type === 'edgehook.test')!.id);

    await page.getByLabel('Status', { exact: true }).selectOption('delivered');
    await page
      .getByRole('row')
      .filter({ hasText: 'edgehook.test' })
      .getByText('delivered', { exact: true })
      .first()
      .waitFor();
  });

  it('deletes a failed delivery and replays a time range to an endpoint', async () => {
    fx.flaky.respond = () => ({ status: 422, body: 'no thanks' });
    await open();
    const sent = await page.request.post(`${fx.agent.adminUrl}/api/endpoints/flaky/test`, { data: {} });
    expect(sent.status()).toBe(202);
    const { seq } = (await sent.json()) as { seq: number };
    const statusOf = async () =>
      (
        (await (await page.request.get(`${fx.agent.adminUrl}/api/deliveries/flaky/${seq}`)).json()) as {
          delivery?: { status: string };
        }
      ).delivery?.status;
    await waitFor(async () => (await statusOf()) === 'failed', 'the delivery to fail', 15_000);
    const deletedBefore = fx.agent.status().outbox.deleted;

    await page.goto(`${fx.agent.adminUrl}/#/deliveries?endpoint=flaky&status=failed`);
    const row = page.locator(`tr[data-key="flaky/${seq}"]`);
    await row.getByRole('button', { name: 'Details' }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Click again to delete' }).click();
    await page.getByText(`Deleted event ${seq} for flaky`).waitFor();
    await expect.poll(() => row.count()).toBe(0);
    await waitFor(() => fx.agent.status().outbox.deleted === deletedBefore + 1, 'the delete to be counted');

    // A sensor reading over MQTT, delivered to "cloud"; then the last hour is replayed to it.
    const device = await mqtt.connectAsync(fx.agent.broker!.url);
    await device.publishAsync('sensors/porch/temperature', JSON.stringify({ celsius: 4.5 }), { qos: 1 });
    await device.endAsync();
    await waitFor(
      () => fx.ok.requests.some((r) => r.json.type === 'sensor.porch.temperature'),
      'the reading at the receiver',
    );
    const before = fx.ok.requests.length;
    await page.getByLabel('Target endpoint').selectOption('cloud');
    await page.getByRole('button', { name: 'Replay' }).click();
    const done = await page.getByText(/Queued \d+ events? again for cloud/).textContent();
    const count = Number(/Queued (\d+)/.exec(done!)![1]);
    expect(count).toBeGreaterThan(0);
    await waitFor(() => fx.ok.requests.length >= before + count, 'the replayed events at the receiver');
    const again = fx.ok.requests.slice(before).filter((r) => r.json.type === 'sensor.porch.temperature');
    expect(again.length).toBe(1);
    expect(again[0]!.verified).toBe(true);
  });

  it('shows a rejected payload on the dashboard and redelivers it', async () => {
    await open();
    const device = await mqtt.connectAsync(fx.agent.broker!.url);
    await device.publishAsync('sensors/shed/temperature', 'about nine degrees', { qos: 1 });
    await device.endAsync();
    const row = page.getByRole('row').filter({ hasText: 'sensors/shed/temperature' });
    await row.getByText('about nine degrees', { exact: true }).waitFor();
    await row.getByText(/not JSON/i).waitFor();
    await row.getByRole('button', { name: 'Redeliver' }).click();
    await page.getByText(/queued to cloud/).waitFor();
    await waitFor(
      () => fx.ok.requests.find((r) => r.json.topic === 'sensors/shed/temperature'),
      'the redelivered event at the receiver',
    );
  });

  it('edits a subscription and the config file keeps its comments', async () => {
    await open();
    await go('Subscriptions');
    const row = page.getByRole('row').filter({ hasText: 'sensors/+/temperature' });
    await row.getByRole('link', { name: 'Edit' }).click();
    await expect.poll(() => page.getByLabel('Topic filter').inputValue()).toBe('sensors/+/temperature');

    // Topic filter rules, checked as you type.
    await page.getByLabel('Topic filter').fill('sensors/#/temperature');
    await page.getByText('"#" must be a whole level and the last one').waitFor();
    await page.getByLabel('Topic filter').fill('sensors/+/humidity');
    await page.getByLabel('Event type').fill('sensor.{2}.humidity');
    await page.getByText(/\{2\} needs 2 wildcard levels/).waitFor();
    await page.getByLabel('Event type').fill('sensor.{1}.humidity');
    await page.getByLabel('QoS').selectOption('2');
    await page.getByRole('button', { name: 'Save' }).click();

    await page.getByText(/Saved the subscription to sensors\/\+\/humidity/).waitFor();
    await page.getByRole('rowheader', { name: 'sensors/+/humidity' }).waitFor();
    const text = await waitFor(
      () => (fx.config().includes('sensors/+/humidity') ? fx.config() : undefined),
      'the config file to change',
    );
    expect(text).toContain('type: sensor.{1}.humidity');
    expect(text).toMatch(/qos: 2/);
    for (const c of CONFIG_COMMENTS) expect(text).toContain(c);

    await page.getByRole('button', { name: 'Add subscription' }).click();
    await page.getByLabel('Topic filter').fill('alarms/#');
    await page.getByLabel('Event type').fill('alarm');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('rowheader', { name: 'alarms/#' }).waitFor();
    expect(fx.config()).toContain('alarms/#');
  });

  it('rotates and reveals a secret only when asked', async () => {
    await open();
    await page.goto(`${fx.agent.adminUrl}/#/endpoints/cloud`);
    await page.getByRole('button', { name: 'Send test event' }).waitFor();
    // Listings show masked secrets only.
    expect(await page.locator('main').textContent()).not.toContain('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page.getByText('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Hide secret' }).click();

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByText(/previous one keeps signing beside it until/).waitFor();
    const fresh = (await page.locator('code.secret').first().textContent())!.trim();
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  });

  it('saves settings and says which ones need a restart', async () => {
    await open();
    await go('Settings');
    await page.getByLabel('Keep delivered (hours)').fill('48');
    await page.getByLabel('Max outbox size').fill('3');
    await page.getByText('at least 4KiB').waitFor();
    await page.getByLabel('Max outbox size').fill('256MiB');
    await page.getByLabel('Embedded broker port').fill('1884');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/restart required/i).waitFor();
    await page.getByText(/mqtt\.embedded/).waitFor();
    const text = fx.config();
    expect(text).toMatch(/keepDeliveredHours: 48/);
    expect(text).toMatch(/port: 1884/);
    for (const c of CONFIG_COMMENTS) expect(text).toContain(c);
  });

  it('works on a 375-px-wide screen: the nav wraps, tables scroll inside the page', async () => {
    await open({ width: 375, height: 812 });
    for (const name of PAGES) {
      await go(name);
      // Measure once the page's data (its widest content) is in.
      await READY[name](page).first().waitFor();
      const { scrollWidth, innerWidth } = (await page.evaluate(
        '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
      )) as { scrollWidth: number; innerWidth: number };
      expect(scrollWidth, `${name}: the page is wider than the screen`).toBeLessThanOrEqual(innerWidth);
      for (const link of PAGES)
        expect(await page.getByRole('link', { name: link, exact: true }).isVisible()).toBe(true);
    }
  });

  it('tells the user to open the login link when the session is gone', async () => {
    await open();
    await ui.context.clearCookies();
    await page.getByRole('link', { name: 'Endpoints', exact: true }).click();
    await page.getByText('Open the login link printed by edgehook run').waitFor();
    expect(
      await page.getByRole('alert').filter({ hasText: 'Open the login link printed by' }).isVisible(),
    ).toBe(true);
  });

  it('shows desktop-only actions only inside the desktop window', async () => {
    await open();
    await go('Settings');
    await page.getByLabel('Agent ID').waitFor();
    expect(await page.getByRole('button', { name: 'Open data folder' }).count()).toBe(0);
    await ui.context.close();

    // A stand-in for the Electron preload (src/electron/preload.cts exposes the same names).
    ui = await openUi(browser, fx.agent, undefined, FAKE_DESKTOP);
    page = ui.page;
    await go('Settings');
    await page.getByRole('button', { name: 'Open data folder' }).click();
    await page.getByText('/home/me/.config/Edgehook/data').waitFor();
    expect(await page.evaluate('window.__desktopCalls')).toEqual(['openDataFolder']);
  });
});
