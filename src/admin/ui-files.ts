import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyReply } from 'fastify';
import { CONTENT_TYPES, UI_CSP, type UiHandlers } from './ui-static.js';

/**
 * The built admin UI's files (ui-static.ts registers the routes; this module loads with the
 * first page). A handful of small files read on request: no static-file plugin (no new
 * dependency), and a rebuilt UI shows up without restarting the agent.
 */

/** A name Vite emits under assets/: letters, digits, "-", "_", ".", no leading dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export function uiHandlers(uiDir: string): UiHandlers {
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

  const index = async (reply: FastifyReply) => {
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
  const asset = async (rest: string, reply: FastifyReply) => {
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
  };
  return { index, asset };
}
