import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { systemClock, type Clock } from '../clock.js';
import { EdgehookError, ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import { LoginLimiter } from './login-limiter.js';
import { COOKIE_NAME, bearerToken, cookieValue, hostAllowed, originAllowed, tokenMatches } from './auth.js';
import type { AgentStatus } from './api-types.js';
import { defaultUiDir, registerUi } from './ui-static.js';
import { registerApi, type AdminApiDeps } from './routes/index.js';

export interface AdminServerDeps {
  token: string;
  host: string;
  allowedHosts: readonly string[];
  /** Serve HTTPS with this certificate (README "Admin UI across the LAN"). */
  tls?: { cert: string; key: string } | undefined;
  /** Failed logins per client address (tests shrink it); the clock refills it. */
  loginLimit?: { burst?: number; refillMs?: number; clock?: Clock };
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
  const options = {
    logger: false,
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    schemaController: { compilersFactory: lazySchemaCompilers() },
  };
  let app: FastifyInstance;
  try {
    // The HTTPS instance routes exactly like the HTTP one; only its server type differs.
    app = deps.tls
      ? (Fastify({
          ...options,
          https: { cert: deps.tls.cert, key: deps.tls.key },
        }) as unknown as FastifyInstance)
      : Fastify(options);
  } catch (cause) {
    throw new EdgehookError(
      ErrorCodes.ADMIN_TLS,
      `the admin certificate and key cannot be used together (${(cause as Error).message})`,
      { cause },
    );
  }
  const limiter = new LoginLimiter({ clock: systemClock, ...deps.loginLimit });
  // Bound to every interface: the machine's own names reach it too (its IP addresses always do).
  const wildcard = deps.host === '0.0.0.0' || deps.host === '::';
  const allowedHosts = wildcard
    ? [...deps.allowedHosts, hostname(), `${hostname()}.local`]
    : deps.allowedHosts;

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, deps.host, allowedHosts)) {
      return reply.code(403).send({ error: 'host not allowed', code: 'EDGEHOOK_ERR_HOST' });
    }
    const path = req.url.split('?')[0];
    if (path === '/healthz' || path === '/login') return;
    if (!SAFE_METHODS.has(req.method) && !originAllowed(req.headers.origin, req.headers.host)) {
      return reply.code(403).send({ error: 'cross-origin request refused', code: 'EDGEHOOK_ERR_ORIGIN' });
    }
    const given = credential(req);
    if (given !== undefined && tooManyFailures(req, reply)) return reply;
    if (!tokenMatches(given, deps.token)) {
      if (given !== undefined) limiter.failed(req.ip);
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'admin token required', code: 'EDGEHOOK_ERR_UNAUTHORIZED' });
    }
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/login', async (req, reply) => {
    const token = (req.query as { token?: string }).token;
    if (tooManyFailures(req, reply)) return reply;
    if (!tokenMatches(token, deps.token)) {
      limiter.failed(req.ip);
      return reply.code(401).send({ error: 'wrong or missing token', code: 'EDGEHOOK_ERR_UNAUTHORIZED' });
    }
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

  /** Answers 429 when this address failed too often; the token it brought is not compared. */
  function tooManyFailures(req: FastifyRequest, reply: FastifyReply): boolean {
    const wait = limiter.retryAfter(req.ip);
    if (wait === 0) return false;
    void reply
      .code(429)
      .header('retry-after', String(wait))
      .send({ error: `too many failed logins: retry in ${wait} s`, code: 'EDGEHOOK_ERR_RATE_LIMITED' });
    return true;
  }
}

function credential(req: FastifyRequest): string | undefined {
  return bearerToken(req.headers.authorization) ?? cookieValue(req.headers.cookie, COOKIE_NAME);
}

type SchemaCompilers = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * Fastify's default schema compilers (ajv and fast-json-stringify, a few MB of heap: BENCHMARKS.md
 * "Memory: where the MB go"), built when a route with a schema first needs them. No route here
 * has one, so an agent never loads them; a route given a schema still gets the same compilers.
 * They are resolved from fastify's own dependencies, as fastify does.
 */
function lazySchemaCompilers(): SchemaCompilers {
  type Factory = (...args: unknown[]) => unknown;
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  let validator: Factory | undefined;
  let serializer: Factory | undefined;
  const compilers = {
    buildValidator: (...args: unknown[]) => {
      validator ??= (fromFastify('@fastify/ajv-compiler') as () => Factory)();
      return validator(...args);
    },
    buildSerializer: (...args: unknown[]) => {
      serializer ??= (fromFastify('@fastify/fast-json-stringify-compiler') as () => Factory)();
      return serializer(...args);
    },
  };
  // Same call shape as fastify's own factories; their types name packages not ours to import.
  return compilers as unknown as SchemaCompilers;
}
