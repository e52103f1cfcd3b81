import { readFileSync, rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { chromium } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { spkiSha256 } from '../../src/admin/admin-tls.js';
import type { Agent } from '../../src/agent/create-agent.js';
import { startAgent, tempDir } from '../helpers/agent.js';
import { makePki } from '../helpers/tls.js';
import { CHROMIUM, CHROMIUM_FLAGS, describeInChromium } from './browser.js';

/**
 * The admin UI over HTTPS in Chromium, as a person on the LAN opens it: the browser trusts the
 * one certificate whose fingerprint the agent printed (its public key's hash, the form Chromium
 * takes), never "all certificates".
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function servedCertificate(port: number): Promise<{ fingerprint256: string; pem: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = s.getPeerX509Certificate()!;
      s.end();
      resolve({ fingerprint256: cert.fingerprint256, pem: cert.toString() });
    });
    s.once('error', reject);
  });
}

/** Chromium that accepts exactly the certificates whose public keys hash to `spki`. */
async function browserTrusting(spki: string) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_FLAGS, `--ignore-certificate-errors-spki-list=${spki}`],
    headless: true,
  });
  cleanups.push(() => browser.close());
  return browser;
}

describeInChromium('the admin UI over HTTPS in Chromium', () => {
  it('loads and signs in over HTTPS trusting the printed fingerprint; Settings shows that fingerprint', async () => {
    const dataDir = tempDir();
    const agent: Agent = await startAgent(
      `agentId: lan-ui
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
admin: { host: 0.0.0.0, port: 0 }
`,
      { dataDir },
    );
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    cleanups.push(() => agent.stop());
    const printed = agent.adminTls!.fingerprint256;
    const served = await servedCertificate(Number(new URL(agent.adminUrl!).port));
    expect(served.fingerprint256).toBe(printed);

    // A browser trusting another certificate's key refuses this server: the flag is no blanket.
    const pkiDir = tempDir('edgehook-pki-');
    cleanups.push(() => rmSync(pkiDir, { recursive: true, force: true }));
    const other = makePki(pkiDir);
    const wrong = await browserTrusting(spkiSha256(readFileSync(other.serverCert, 'utf8')));
    const wrongPage = await (await wrong.newContext()).newPage();
    const refused = await wrongPage.goto(`${agent.adminUrl}/healthz`).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/ERR_CERT/);

    const browser = await browserTrusting(spkiSha256(served.pem));
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const response = await page.goto(agent.loginUrl!);
    expect(response?.status()).toBe(200);
    expect(page.url()).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    // The session cookie came over HTTPS and works for the API calls the page makes.
    await page.getByRole('link', { name: 'Dashboard' }).waitFor({ timeout: 15_000 });
    await page.goto(`${agent.adminUrl}/#/settings`);
    await expect
      .poll(
        async () =>
          (await page
            .locator('#admin-fingerprint')
            .textContent()
            .catch(() => null)) ?? '',
        {
          timeout: 15_000,
        },
      )
      .toBe(printed);
    expect(await page.locator('#admin-tls').textContent()).toContain('HTTPS');
  });
});
