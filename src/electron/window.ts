import type {
  BrowserWindowConstructorOptions,
  HandlerDetails,
  Session,
  WebContents,
  WindowOpenHandlerResponse,
} from 'electron';
import { fingerprintBase64 } from '../admin/admin-tls.js';
import { UI_CSP } from '../admin/ui-static.js';

/**
 * The admin UI window and its hardening (docs/desktop.md "Signed in, and locked down"; Electron's
 * security checklist). The window shows a page served over plain HTTP by the agent on 127.0.0.1, so the
 * renderer gets no Node, runs sandboxed and isolated, and may only ever show the admin origin:
 * everything else is refused, and http(s) links go to the system browser instead.
 */

/**
 * The admin server's own policy (src/admin/ui-static.ts: scripts, styles and connections from
 * the admin origin only, no inline script, no eval, no framing), applied again through the
 * session's response headers: then it covers every response the window gets, including API
 * replies and errors that carry no header of their own. One policy, so the two cannot drift.
 */
export const ADMIN_CSP = UI_CSP;

export interface WindowOptionsInput {
  /** Absolute path of the compiled preload (preload.cjs). */
  preload: string;
  /** DevTools only in development: a packaged app has no business opening them. */
  devTools: boolean;
}

export function buildWindowOptions(input: WindowOptionsInput): BrowserWindowConstructorOptions {
  return {
    title: 'Edgehook',
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 480,
    // Shown on 'ready-to-show', so the user never sees a blank white frame.
    show: false,
    backgroundColor: '#111827',
    autoHideMenuBar: true,
    webPreferences: {
      preload: input.preload,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: input.devTools,
    },
  };
}

/** "http://127.0.0.1:8787" from the agent's admin URL. */
export function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** Only the agent's own admin origin may be shown in the window (scheme, host and port). */
export function isAllowedNavigation(url: string, adminOrigin: string | undefined): boolean {
  if (!adminOrigin) return false;
  return originOf(url) === adminOrigin;
}

/**
 * What may be handed to the system: web pages and mail only. shell.openExternal with file:,
 * smb: or a custom scheme can run programs (Electron security checklist #15).
 */
export function isSafeExternalUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'https:' || protocol === 'http:' || protocol === 'mailto:';
  } catch {
    return false;
  }
}

type ContentsLike = Pick<WebContents, 'on' | 'setWindowOpenHandler' | 'loadURL'>;

export interface HardenDeps {
  /** A getter: the origin is known only once the agent listens; until then nothing is allowed. */
  adminOrigin: () => string | undefined;
  openExternal: (url: string) => Promise<void>;
  onRefused?: (what: string, url: string) => void;
}

export function hardenWebContents(contents: ContentsLike, deps: HardenDeps): void {
  const refuse = (what: string, url: string) => deps.onRefused?.(what, url);
  const openOutside = (url: string) => {
    if (isSafeExternalUrl(url)) void deps.openExternal(url).catch(() => refuse('open-external-failed', url));
    else refuse('unsafe-external', url);
  };

  // A link the user follows inside the UI: the admin origin stays here, the web goes outside.
  contents.on('will-navigate', (event) => {
    if (isAllowedNavigation(event.url, deps.adminOrigin())) return;
    event.preventDefault();
    refuse('navigation', event.url);
    openOutside(event.url);
  });

  // A server-side redirect away from the admin origin is never followed, nor opened outside:
  // the user did not ask for it.
  contents.on('will-redirect', (event) => {
    if (isAllowedNavigation(event.url, deps.adminOrigin())) return;
    event.preventDefault();
    refuse('redirect', event.url);
  });

  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    refuse('webview', '');
  });

  // No second windows: target=_blank on the admin origin opens in place, anything else outside.
  contents.setWindowOpenHandler((details: HandlerDetails): WindowOpenHandlerResponse => {
    if (isAllowedNavigation(details.url, deps.adminOrigin()))
      void contents.loadURL(details.url).catch(() => undefined);
    else openOutside(details.url);
    return { action: 'deny' };
  });
}

export type SessionLike = {
  webRequest: Pick<Session['webRequest'], 'onHeadersReceived'>;
} & Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>;

/** Permissions the admin UI may use: copying a token or URL to the clipboard. Nothing else. */
const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

export function applySessionSecurity(session: SessionLike, adminOrigin: () => string | undefined): void {
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [ADMIN_CSP] } });
  });
  const allowed = (permission: string, origin: string) =>
    ALLOWED_PERMISSIONS.has(permission) && isAllowedNavigation(origin, adminOrigin());
  session.setPermissionRequestHandler((contents, permission, callback) => {
    callback(allowed(permission, contents.getURL()));
  });
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    allowed(permission, requestingOrigin),
  );
}

/**
 * Whether a certificate Chromium refused is the agent's own admin certificate: the window then
 * loads its HTTPS UI (a self-signed certificate, on a LAN address). Exactly that certificate at
 * exactly the admin origin; Electron names certificates "sha256/<base64 of the DER's SHA-256>".
 */
export function isAdminCertificate(
  url: string,
  certificateFingerprint: string,
  adminOrigin: string | undefined,
  adminFingerprint256: string | undefined,
): boolean {
  if (!adminFingerprint256 || !isAllowedNavigation(url, adminOrigin)) return false;
  return certificateFingerprint === `sha256/${fingerprintBase64(adminFingerprint256)}`;
}
