import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { COOKIE_NAME, bearerToken, cookieValue, hostAllowed, originAllowed, tokenMatches } from './auth.js';
import type { AgentStatus } from './api-types.js';
import { defaultUiDir, registerUi } from './ui-static.js';
import { registerApi, type AdminApiDeps } from './routes/index.js';

export interface AdminServerDeps {
  token: string;
  host: string;
  allowedHosts: readonly string[];
  logger: Logger;
  status: () => AgentStatus;
  /** The admin API (routes/): endpoints, subscriptions, settings, deliveries, events, stream, metrics. */
  api?: AdminApiDeps;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Builds the admin server without listening (the Fastify testing habit): tests call `inject`
 * or listen on port 0. Every request but GET /healthz needs the token (README "Admin API").
 */
export async function createAdminServer(deps: AdminServerDeps): Promise<FastifyInstance> {
  // forceCloseConnections: stopping the agent must not wait on a browser's connections (an
  // EventSource between frames, a socket opened ahead for a next request): Node's close() only
  // drops idle keep-alive ones, and those others would hold the stop for minutes.
  const app = Fastify({
    logger: false,
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, deps.host, deps.allowedHosts)) {
      return reply.code(403).send({ error: 'host not allowed', code: 'EDGEHOOK_ERR_HOST' });
    }
    const path = req.url.split('?')[0];
    if (path === '/healthz' || path === '/login') return;
    if (!SAFE_METHODS.has(req.method) && !originAllowed(req.headers.origin, req.headers.host)) {
      return reply.code(403).send({ error: 'cross-origin request refused', code: 'EDGEHOOK_ERR_ORIGIN' });
    }
    if (!authenticated(req, deps.token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'admin token required', code: 'EDGEHOOK_ERR_UNAUTHORIZED' });
    }
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/login', async (req, reply) => {
    const token = (req.query as { token?: string }).token;
    if (!tokenMatches(token, deps.token))
      return reply.code(401).send({ error: 'wrong or missing token', code: 'EDGEHOOK_ERR_UNAUTHORIZED' });
    return reply
      .header(
        'set-cookie',
        `${COOKIE_NAME}=${encodeURIComponent(deps.token)}; HttpOnly; SameSite=Strict; Path=/`,
      )
      .redirect('/', 303);
  });

  app.get('/api/status', async () => deps.status());
  if (deps.api) await registerApi(app, deps.api);
  registerUi(app, defaultUiDir());
  return app;
}

function authenticated(req: FastifyRequest, token: string): boolean {
  const given = bearerToken(req.headers.authorization) ?? cookieValue(req.headers.cookie, COOKIE_NAME);
  return tokenMatches(given, token);
}
