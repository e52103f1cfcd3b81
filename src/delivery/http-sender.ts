import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, EnvHttpProxyAgent as UndiciEnvHttpProxyAgent, Dispatcher } from 'undici';
import type { EndpointConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { USER_AGENT } from '../version.js';

/**
 * One keep-alive connection pool per endpoint (undici). Sends one signed request and reports
 * what happened; it never retries and never follows redirects (README "Delivery": a redirect is a
 * failure). Proxies come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY.
 */

export type SendResult =
  | { kind: 'response'; status: number; retryAfter: string | null; snippet: string; durationMs: number }
  | { kind: 'error'; code: string; message: string; durationMs: number };

/*
 * undici's index loads all of undici (fetch, WebSocket, caches, mocks): about 9 MB of RSS that
 * a gateway pays for nothing. Only the dispatchers and their API methods are loaded here: the
 * same modules, wired the same way, as undici's index.js does (request, and the CONNECT the
 * proxy agent sends, are methods it assigns to Dispatcher.prototype). undici has no "exports"
 * map, so these paths are reachable; the pinned version (package.json) keeps them stable, and
 * test/delivery covers both agents.
 */
const requireUndici = createRequire(import.meta.url);
Object.assign(
  (requireUndici('undici/lib/dispatcher/dispatcher.js') as { prototype: object }).prototype,
  requireUndici('undici/lib/api/index.js') as object,
);
const Agent = requireUndici('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
const EnvHttpProxyAgent = requireUndici(
  'undici/lib/dispatcher/env-http-proxy-agent.js',
) as typeof UndiciEnvHttpProxyAgent;

/** How much of a response body is kept for the attempt log; the rest is not read. */
export const SNIPPET_BYTES = 512;

export class HttpSender {
  private readonly dispatcher: Dispatcher;
  private readonly url: URL;
  private readonly baseHeaders: Record<string, string>;

  constructor(
    private readonly endpoint: EndpointConfig,
    logger: Logger,
  ) {
    this.url = new URL(endpoint.url);
    const connect = endpoint.tls
      ? {
          ...(endpoint.tls.ca ? { ca: readFileSync(endpoint.tls.ca) } : {}),
          ...(endpoint.tls.cert ? { cert: readFileSync(endpoint.tls.cert) } : {}),
          ...(endpoint.tls.key ? { key: readFileSync(endpoint.tls.key) } : {}),
          rejectUnauthorized: endpoint.tls.rejectUnauthorized,
        }
      : undefined;
    if (endpoint.tls && !endpoint.tls.rejectUnauthorized) {
      logger.warn(
        { endpoint: endpoint.id },
        'TLS certificate verification is OFF for this endpoint (tls.rejectUnauthorized: false)',
      );
    }
    const options = {
      connections: Math.max(endpoint.ordering === 'parallel' ? endpoint.maxInFlight : 1, 1),
      keepAliveTimeout: 30_000,
      headersTimeout: endpoint.timeoutMs,
      bodyTimeout: endpoint.timeoutMs,
      connectTimeout: Math.min(endpoint.timeoutMs, 10_000),
      ...(connect ? { connect } : {}),
    };
    const proxied = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].some((k) => process.env[k]);
    this.dispatcher = proxied ? new EnvHttpProxyAgent(options) : new Agent(options);
    this.baseHeaders = {
      ...lowerKeys(endpoint.headers),
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...(endpoint.compress === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
    };
  }

  /**
   * POSTs `body` (the exact bytes that were signed) with the given headers: webhook-*, and the
   * content-type of the endpoint's format, which replace the defaults and the custom headers.
   */
  async send(body: string, signedHeaders: Record<string, string>): Promise<SendResult> {
    const started = performance.now();
    const payload = this.endpoint.compress === 'gzip' ? gzipSync(body) : body;
    // No AbortSignal per request (it cost ~3 % of the agent under load, BENCHMARKS.md): undici's
    // connect and headers timeouts bound the wait for an answer, and readBody bounds the body.
    const deadline = started + this.endpoint.timeoutMs;
    let status = 0;
    let retryAfter: string | null = null;
    try {
      const res = await this.dispatcher.request({
        origin: this.url.origin,
        path: this.url.pathname + this.url.search,
        method: 'POST',
        headers: { ...this.baseHeaders, ...signedHeaders },
        body: payload,
      });
      status = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = Array.isArray(ra) ? (ra[0] ?? null) : (ra ?? null);
      // A 2xx body is not kept (the log needs the answer to a refusal, not to a success): it
      // is only drained, so the connection goes back to the pool.
      const snippet = await readBody(res.body, deadline, status >= 200 && status < 300);
      return { kind: 'response', status, retryAfter, snippet, durationMs: performance.now() - started };
    } catch (err) {
      // The status line arrived but the body dragged on past the timeout: the receiver has
      // answered, and its answer counts.
      if (status > 0)
        return { kind: 'response', status, retryAfter, snippet: '', durationMs: performance.now() - started };
      return { kind: 'error', ...errorCode(err), durationMs: performance.now() - started };
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => undefined);
  }
}

/**
 * Reads the first SNIPPET_BYTES of a response body (none when `discard`), and no more: a 20 MB
 * answer is not read to its end, its connection is dropped instead. A body still dripping in
 * at the deadline is given up too; the status line already answered.
 */
async function readBody(
  body: Dispatcher.ResponseData['body'],
  deadline: number,
  discard: boolean,
): Promise<string> {
  const timer = setTimeout(() => body.destroy(), Math.max(0, deadline - performance.now()));
  try {
    if (!discard) return await readSnippet(body);
    // dump() reads up to its limit, then closes the connection rather than read on.
    await body.dump({ limit: 64 * 1024 });
    return '';
  } catch {
    return '';
  } finally {
    clearTimeout(timer);
  }
}

async function readSnippet(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      size += buf.length;
      if (size >= SNIPPET_BYTES) break;
    }
  } finally {
    // A 20 MB answer is not read to the end: the connection is dropped instead.
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

function errorCode(err: unknown): { code: string; message: string } {
  const e = err as {
    code?: string;
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (e.name === 'TimeoutError' || e.name === 'AbortError')
    return { code: 'TIMEOUT', message: 'no answer within timeoutMs' };
  const code = e.cause?.code ?? e.code ?? 'UNKNOWN';
  return { code, message: e.cause?.message ?? e.message ?? String(err) };
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}
