import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { trayIconPng } from '../../src/electron/tray-icons.js';
import { createFakeElectron, type FakeElectron, type FakeImage } from './fakes.js';

/**
 * main.ts with the real core: only 'electron' is replaced (it cannot run here). The real agent
 * starts on a temp userData with an embedded broker, SQLite and the admin server on free ports;
 * the window's login URL is fetched for real; Quit stops the real agent before "exiting".
 */

const h = vi.hoisted(() => ({ fake: undefined as FakeElectron | undefined }));
vi.mock('electron', () => h.fake!.modules);

let userData: string;
let signalsBefore: Map<string, NodeJS.SignalsListener[]>;

beforeAll(() => {
  userData = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-desktop-main-'));
  // Free ports, so the test never collides with a running agent or another test.
  fs.writeFileSync(
    path.join(userData, 'edgehook.yaml'),
    'agentId: desktop-test\nmqtt:\n  url: embedded\n  embedded: { host: 127.0.0.1, port: 0 }\nadmin:\n  port: 0\n',
  );
  h.fake = createFakeElectron(userData);
  signalsBefore = new Map(['SIGINT', 'SIGTERM'].map((s) => [s, process.listeners(s as NodeJS.Signals)]));
});

afterAll(() => {
  for (const [signal, before] of signalsBefore) {
    for (const l of process.listeners(signal as NodeJS.Signals))
      if (!before.includes(l)) process.off(signal, l as () => void);
  }
  fs.rmSync(userData, { recursive: true, force: true });
});

describe('main.ts with the real agent', () => {
  it('starts the agent in userData, signs the window in, follows its state, and stops it on Quit', async () => {
    const fake = h.fake!;
    await import('../../src/electron/main.js');
    fake.app.ready();
    await vi.waitFor(() => expect(fake.windows).toHaveLength(1), { timeout: 20_000, interval: 50 });

    // The window was pointed at the agent's /login with its token: following it signs in.
    const loginUrl = fake.windows[0]!.loadURL.mock.calls[0]![0];
    expect(loginUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login\?token=/);
    const login = await fetch(loginUrl, { redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    const status = await fetch(new URL('/api/status', loginUrl), {
      headers: { cookie: cookie.split(';')[0]! },
    });
    expect(status.status).toBe(200);
    expect(((await status.json()) as { agent: { id: string } }).agent.id).toBe('desktop-test');

    // Data in userData/data, not in the file's default ./edgehook-data.
    expect(fs.existsSync(path.join(userData, 'data', 'admin-token'))).toBe(true);
    expect(fs.existsSync(path.join(userData, 'edgehook-data'))).toBe(false);

    // The embedded broker connects shortly after start; the tray turns green.
    const tray = fake.trays[0]!;
    await vi.waitFor(() => expect((tray.image as FakeImage).buffer).toEqual(trayIconPng('connected', 1)), {
      timeout: 20_000,
      interval: 100,
    });

    tray.click('quit');
    expect(fake.app.exited).toBe(false);
    await vi.waitFor(() => expect(fake.app.exited).toBe(true), { timeout: 20_000, interval: 50 });
    // Stopped for real: the admin server no longer answers.
    await expect(fetch(new URL('/healthz', loginUrl))).rejects.toThrow();
    expect(fs.readFileSync(path.join(userData, 'logs', 'edgehook.log'), 'utf8')).toMatch(
      /desktop app stopped/,
    );
  });
});
