import { describe, expect, it, vi } from 'vitest';
import {
  ADMIN_CSP,
  applySessionSecurity,
  buildWindowOptions,
  hardenWebContents,
  isAllowedNavigation,
  isSafeExternalUrl,
  originOf,
  type SessionLike,
} from '../../src/electron/window.js';
import { FakeWebContents } from './fakes.js';

const ADMIN = 'http://127.0.0.1:8787';

describe('buildWindowOptions', () => {
  it('hardens the renderer: sandboxed, isolated, no Node, web security on, the preload given', () => {
    const { webPreferences, show } = buildWindowOptions({
      preload: '/app/dist/electron/preload.cjs',
      devTools: false,
    });
    expect(webPreferences).toMatchObject({
      preload: '/app/dist/electron/preload.cjs',
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      devTools: false,
    });
    // Shown on ready-to-show, not as a blank frame.
    expect(show).toBe(false);
  });

  it('enables DevTools only when asked (development)', () => {
    expect(buildWindowOptions({ preload: '/p.cjs', devTools: true }).webPreferences?.devTools).toBe(true);
  });
});

describe('isAllowedNavigation', () => {
  it.each([
    [`${ADMIN}/`, true],
    [`${ADMIN}/login?token=abc`, true],
    [`${ADMIN}/api/status#x`, true],
    ['http://127.0.0.1:8788/', false], // another port is another origin
    ['https://127.0.0.1:8787/', false], // another scheme
    ['http://localhost:8787/', false], // another host name, even if it resolves here
    ['http://127.0.0.1:8787@evil.example/', false], // userinfo trick: the host is evil.example
    ['https://evil.example/', false],
    ['file:///etc/passwd', false],
    ['javascript:alert(1)', false],
    ['not a url', false],
  ])('%s → %s', (url, allowed) => {
    expect(isAllowedNavigation(url, ADMIN)).toBe(allowed);
  });

  it('allows nothing before the admin origin is known', () => {
    expect(isAllowedNavigation(`${ADMIN}/`, undefined)).toBe(false);
  });

  it('handles an IPv6 loopback admin origin', () => {
    expect(originOf('http://[::1]:8787/login?token=x')).toBe('http://[::1]:8787');
    expect(isAllowedNavigation('http://[::1]:8787/x', 'http://[::1]:8787')).toBe(true);
  });
});

describe('isSafeExternalUrl', () => {
  it.each([
    ['https://docs.example/', true],
    ['http://example.com', true],
    ['mailto:ops@example.com', true],
    ['file:///usr/bin/xterm', false],
    ['smb://share/x', false],
    ['javascript:alert(1)', false],
    ['vscode://open', false],
    ['', false],
  ])('%s → %s', (url, safe) => {
    expect(isSafeExternalUrl(url)).toBe(safe);
  });
});

/** `null`: the agent is not listening yet. */
function hardened(origin: string | null = ADMIN) {
  const contents = new FakeWebContents();
  const openExternal = vi.fn(async (_url: string) => undefined);
  const refused: string[] = [];
  hardenWebContents(contents as never, {
    adminOrigin: () => origin ?? undefined,
    openExternal,
    onRefused: (what) => refused.push(what),
  });
  return { contents, openExternal, refused };
}

describe('hardenWebContents', () => {
  it('lets the UI navigate within the admin origin', () => {
    const { contents, openExternal } = hardened();
    expect(contents.attempt('will-navigate', `${ADMIN}/endpoints`)).toBe(false);
    expect(openExternal).not.toHaveBeenCalled();
  });

  it('refuses navigation elsewhere and opens web links in the system browser', () => {
    const { contents, openExternal, refused } = hardened();
    expect(contents.attempt('will-navigate', 'https://docs.example/webhooks')).toBe(true);
    expect(openExternal).toHaveBeenCalledWith('https://docs.example/webhooks');
    expect(refused).toContain('navigation');
  });

  it('never hands a file: or custom-scheme URL to the system', () => {
    const { contents, openExternal, refused } = hardened();
    expect(contents.attempt('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(openExternal).not.toHaveBeenCalled();
    expect(refused).toContain('unsafe-external');
  });

  it('refuses a server redirect away from the admin origin without opening it anywhere', () => {
    const { contents, openExternal } = hardened();
    expect(contents.attempt('will-redirect', 'https://evil.example/')).toBe(true);
    expect(contents.attempt('will-redirect', `${ADMIN}/`)).toBe(false);
    expect(openExternal).not.toHaveBeenCalled();
  });

  it('refuses every navigation while the admin origin is unknown', () => {
    const { contents } = hardened(null);
    expect(contents.attempt('will-navigate', `${ADMIN}/`)).toBe(true);
  });

  it('denies new windows: external links go to the browser, admin links open in place', () => {
    const { contents, openExternal } = hardened();
    expect(contents.windowOpenHandler?.({ url: 'https://example.com/help' })).toEqual({ action: 'deny' });
    expect(openExternal).toHaveBeenCalledWith('https://example.com/help');
    expect(contents.windowOpenHandler?.({ url: `${ADMIN}/metrics` })).toEqual({ action: 'deny' });
    expect(contents.loadURL).toHaveBeenCalledWith(`${ADMIN}/metrics`);
    expect(contents.windowOpenHandler?.({ url: 'file:///tmp/x' })).toEqual({ action: 'deny' });
    expect(openExternal).toHaveBeenCalledTimes(1);
  });

  it('refuses <webview> attachment', () => {
    const { contents } = hardened();
    const event = {
      prevented: false,
      preventDefault() {
        this.prevented = true;
      },
    };
    contents.emit('will-attach-webview', event, {}, {});
    expect(event.prevented).toBe(true);
  });
});

function fakeSession() {
  let listener:
    | ((
        d: { responseHeaders?: Record<string, string[]> },
        cb: (r: { responseHeaders?: Record<string, string[]> }) => void,
      ) => void)
    | undefined;
  let requestHandler:
    | ((wc: { getURL(): string }, permission: string, cb: (granted: boolean) => void) => void)
    | undefined;
  let checkHandler: ((wc: unknown, permission: string, origin: string) => boolean) | undefined;
  const session = {
    webRequest: {
      onHeadersReceived: (l: typeof listener) => {
        listener = l;
      },
    },
    setPermissionRequestHandler: (h: typeof requestHandler) => {
      requestHandler = h;
    },
    setPermissionCheckHandler: (h: typeof checkHandler) => {
      checkHandler = h;
    },
  };
  return {
    session: session as unknown as SessionLike,
    headers: (responseHeaders: Record<string, string[]>) =>
      new Promise<Record<string, string[]> | undefined>((resolve) =>
        listener!({ responseHeaders }, (r) => resolve(r.responseHeaders)),
      ),
    request: (pageUrl: string, permission: string) =>
      new Promise<boolean>((resolve) => requestHandler!({ getURL: () => pageUrl }, permission, resolve)),
    check: (origin: string, permission: string) => checkHandler!(null, permission, origin),
  };
}

describe('applySessionSecurity', () => {
  it('adds the CSP to every response and keeps the other headers', async () => {
    const s = fakeSession();
    applySessionSecurity(s.session, () => ADMIN);
    const headers = await s.headers({ 'Content-Type': ['text/html'] });
    expect(headers?.['Content-Type']).toEqual(['text/html']);
    expect(headers?.['Content-Security-Policy']).toEqual([ADMIN_CSP]);
  });

  it('has a CSP that allows scripts from the admin origin only', () => {
    const directives = new Map(
      ADMIN_CSP.split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('base-uri')).toEqual(["'none'"]);
    expect(ADMIN_CSP).not.toMatch(/unsafe-eval|unsafe-inline/);
  });

  it('denies permission requests except clipboard writes from the admin UI', async () => {
    const s = fakeSession();
    applySessionSecurity(s.session, () => ADMIN);
    expect(await s.request(`${ADMIN}/`, 'clipboard-sanitized-write')).toBe(true);
    expect(await s.request(`${ADMIN}/`, 'geolocation')).toBe(false);
    expect(await s.request(`${ADMIN}/`, 'notifications')).toBe(false);
    expect(await s.request('https://evil.example/', 'clipboard-sanitized-write')).toBe(false);
    expect(s.check(ADMIN, 'clipboard-sanitized-write')).toBe(true);
    expect(s.check(ADMIN, 'media')).toBe(false);
  });
});
