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
  /** The endpoint URL's parts, taken apart once: URL's getters build new strings at each call. */
  private readonly origin: string;
  private readonly path: string;
  private readonly baseHeaders: Record<string, string>;

  constructor(
    private readonly endpoint: EndpointConfig,
    logger: Logger,
  ) {
    const url = new URL(endpoint.url);
    this.origin = url.origin;
    this.path = url.pathname + url.search;
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
   *
   * Through undici's `dispatch()` with a handler of our own, not `request()`: no Readable stream,
   * promise chain and timer per answer. Measured against the same server, 64 in flight: 39–40
   * µs of CPU per request instead of 46–51 (BENCHMARKS.md).
   */
  send(body: string, signedHeaders: Record<string, string>): Promise<SendResult> {
    const payload = this.endpoint.compress === 'gzip' ? gzipSync(body) : body;
    return new Promise((resolve) => {
      const answer = new Answer(performance.now(), this.endpoint.timeoutMs, resolve);
      try {
        this.dispatcher.dispatch(
          {
            origin: this.origin,
            path: this.path,
            method: 'POST',
            headers: { ...this.baseHeaders, ...signedHeaders },
            body: payload,
          },
          answer,
        );
      } catch (err) {
        answer.onError(err as Error);
      }
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => undefined);
  }
}

/** A 2xx body is drained up to this much; past it the connection is dropped instead. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * One request's answer, as undici's (legacy, unwrapped) dispatch handler. It keeps the status,
 * `Retry-After` and, for an answer other than 2xx, the first SNIPPET_BYTES of the body (the
 * attempt log needs the answer to a refusal, not to a success). A body is not read past that
 * (a 20 MB answer drops its connection instead), nor past `timeoutMs` from the start: a body
 * still dripping in then is given up, and the status line that already came counts.
 */
class Answer implements Dispatcher.DispatchHandler {
  private status = 0;
  private retryAfter: string | null = null;
  private keep = false;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private abort: ((err?: Error) => void) | undefined;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly deadline: number;

  constructor(
    private readonly started: number,
    timeoutMs: number,
    private readonly resolve: (r: SendResult) => void,
  ) {
    this.deadline = started + timeoutMs;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the answer is still to come
    this.status = statusCode;
    this.keep = statusCode >= 300;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') {
        this.retryAfter = rawHeaders[i + 1]!.toString('latin1');
        break;
      }
    }
    // Most answers end in the same read as their status line; a timer is armed only for a body
    // that is still coming after it.
    queueMicrotask(() => {
      if (!this.ended)
        this.timer = setTimeout(() => this.giveUp(), Math.max(0, this.deadline - performance.now()));
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.keep && this.size < SNIPPET_BYTES) this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.keep ? this.size >= SNIPPET_BYTES : this.size > DRAIN_LIMIT) this.giveUp();
    else if (performance.now() > this.deadline) this.giveUp();
    return true;
  }

  onComplete(): void {
    this.finish();
  }

  onError(err: Error): void {
    // The status line arrived and the body was given up (or broke off): the answer counts.
    if (this.status > 0) this.finish();
    else this.end({ kind: 'error', ...errorCode(err), durationMs: performance.now() - this.started });
  }

  /** Stops reading: the connection is dropped, the answer so far stands. */
  private giveUp(): void {
    this.finish();
    this.abort?.();
  }

  private finish(): void {
    const snippet = this.keep ? Buffer.concat(this.chunks).subarray(0, SNIPPET_BYTES).toString('utf8') : '';
    this.end({
      kind: 'response',
      status: this.status,
      retryAfter: this.retryAfter,
      snippet,
      durationMs: performance.now() - this.started,
    });
  }

  private end(result: SendResult): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.resolve(result);
  }
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
