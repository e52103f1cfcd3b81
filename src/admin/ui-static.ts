import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Serves the built admin UI (renderer/ → dist/ui): index.html at `/`, Vite's hashed files under
 * `/assets/`. The admin server's auth hook runs first, so these need the token like the API
 * (the /login link sets the cookie, then redirects here).
 *
 * A handful of small files read on request: no static-file plugin (no new dependency), and a
 * rebuilt UI shows up without restarting the agent.
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

const CONTENT_TYPES: Record<string, string> = {
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

/** A name Vite emits under assets/: letters, digits, "-", "_", ".", no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

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

export function registerUi(app: FastifyInstance, uiDir: string): void {
  const root = resolve(uiDir);
  const assets = resolve(root, 'assets');

  const securityHeaders = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', UI_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin');

  const notFound = (reply: FastifyReply, what: string) =>
    securityHeaders(reply)
      .code(404)
      .header('cache-control', 'no-store')
      .send({ error: `${what} not found`, code: 'EDGEHOOK_ERR_NOT_FOUND' });

  const sendIndex = async (_req: unknown, reply: FastifyReply) => {
    const body = await readFile(resolve(root, 'index.html')).catch(() => undefined);
    if (!body) {
      return securityHeaders(reply)
        .code(404)
        .header('cache-control', 'no-store')
        .send({
          error: `the admin UI is not built (no ${resolve(root, 'index.html')}): run npm run build`,
          code: 'EDGEHOOK_ERR_NOT_FOUND',
        });
    }
    // Revalidated every time: it names the hashed assets of the current build.
    return securityHeaders(reply)
      .type(CONTENT_TYPES['.html']!)
      .header('cache-control', 'no-cache')
      .send(body);
  };
  app.get('/', sendIndex);
  app.get('/index.html', sendIndex);

  app.get('/assets/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    // One plain file name: no "..", no separators, no encoded tricks (Fastify has decoded %2F
    // already, so a slash here came from the URL either way).
    if (!ASSET_NAME.test(rest) || rest.includes('..')) return notFound(reply, 'file');
    const file = resolve(assets, rest);
    if (!file.startsWith(assets + sep)) return notFound(reply, 'file');
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return notFound(reply, 'file');
    const body = await readFile(file);
    return (
      securityHeaders(reply)
        .type(CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
        // The name carries a content hash: a changed file gets a new name. "private": these
        // answers need the admin token, so no shared cache may keep them.
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('last-modified', info.mtime.toUTCString())
        .send(body)
    );
  });
}
