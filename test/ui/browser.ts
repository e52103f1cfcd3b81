import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { describe } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { skipNote } from '../helpers/skip-note.js';

/**
 * Debian's Chromium driven by playwright-core (docs/development.md "System packages"): never a
 * downloaded browser. Without Chromium the browser tests skip on a developer's machine, but fail
 * under CI=true, where .ci/run installs it.
 */
export const CHROMIUM = process.env.EDGEHOOK_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * True only on a developer's machine without Debian's Chromium (/usr/bin/chromium) and without
 * CI=true. Under CI (.ci/run installs chromium) the browser tests always run, and fail if it is
 * missing: launchChromium throws.
 */
export const skipBrowser = !existsSync(CHROMIUM) && process.env.CI !== 'true';

/**
 * A suite that drives Chromium: skipped only where skipBrowser says, with its title saying what
 * it needs; under CI=true it always runs.
 */
export function describeInChromium(title: string, suite: () => void): void {
  describe.skipIf(skipBrowser)(skipNote(title, skipBrowser, `Chromium at ${CHROMIUM}`), suite);
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (CI installs it in .ci/run)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

export interface UiSession {
  context: BrowserContext;
  page: Page;
  /** Console errors, failed requests and CSP violations seen by the page. */
  problems: string[];
}

/**
 * A fresh browser context logged in the way a user is: the /login link sets the HttpOnly cookie
 * and redirects to the UI.
 */
export async function openUi(
  browser: Browser,
  agent: Agent,
  viewport = { width: 1280, height: 860 },
  initScript?: string,
): Promise<UiSession> {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const loads: string[] = [];
  page.on('response', (r) => loads.push(`${r.status()} ${r.url()}`));
  page.on('requestfailed', (r) => loads.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  await page.goto(agent.loginUrl!);
  try {
    await page.getByRole('link', { name: 'Dashboard' }).waitFor({ timeout: 15_000 });
  } catch (err) {
    // Say what the browser saw, so a failure here can be told from a slow machine.
    const html = await page.content().catch(() => '(no content)');
    throw new Error(
      `the UI did not show after login: ${(err as Error).message.split('\n')[0]}\nurl: ${page.url()}\nresponses:\n  ${loads.join('\n  ')}\nproblems: ${problems.join('; ')}\nhtml: ${html.slice(0, 600)}`,
    );
  }
  return { context, page, problems };
}

/** The problems worth failing a test for (a page's deliberate 4xx answers are logged too). */
export function seriousProblems(problems: readonly string[]): string[] {
  return problems.filter((p) => /Content.Security.Policy|Refused to|page error|Uncaught/i.test(p));
}
