import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Serves the built admin UI (renderer/ → dist/ui): index.html at `/`, Vite's hashed files under
 * `/assets/`. The admin server's auth hook runs first, so these need the token like the API
 * (the /login link sets the cookie, then redirects here). The files are served by ui-files.ts,
 * loaded with the first page.
 */

/**
 * The Content-Security-Policy of every UI response: scripts, styles, images and connections
 * from this origin only; no inline script, no eval, no framing. Styles need no 'unsafe-inline'
 * either: the UI and uPlot style elements through the CSSOM, which CSP does not restrict.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the built UI is. Compiled, this module is dist/admin/ui-static.js and the UI dist/ui.
 * Run from source (vitest, tsx) it is src/admin/ui-static.ts, and the UI is still built into
 * dist/ui.
 */
export function defaultUiDir(): string {
  const beside = fileURLToPath(new URL('../ui/', import.meta.url));
  const built = fileURLToPath(new URL('../../dist/ui/', import.meta.url));
  if (existsSync(resolve(beside, 'index.html')) || !existsSync(resolve(built, 'index.html'))) return beside;
  return built;
}

export interface UiHandlers {
  index(reply: FastifyReply): Promise<FastifyReply>;
  asset(name: string, reply: FastifyReply): Promise<FastifyReply>;
}

/**
 * The UI's routes, registered at start; this module and its handlers are loaded on the first
 * request for a page (README "Memory").
 */
export function registerUi(app: FastifyInstance, uiDir: string): void {
  let handlers: Promise<UiHandlers> | undefined;
  const load = () =>
    (handlers ??= import('./ui-files.js').then(
      (m) => m.uiHandlers(uiDir),
      (err: unknown) => {
        handlers = undefined;
        throw err;
      },
    ));
  const sendIndex = async (_req: unknown, reply: FastifyReply) => (await load()).index(reply);
  app.get('/', sendIndex);
  app.get('/index.html', sendIndex);
  app.get('/assets/*', async (req, reply) =>
    (await load()).asset((req.params as { '*': string })['*'], reply),
  );
}
