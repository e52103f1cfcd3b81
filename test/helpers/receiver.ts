import { createServer, type IncomingMessage, type Server, type RequestListener } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Webhook } from 'standardwebhooks';
import { schemaProblems } from './payload-schemas.js';

export interface Received {
  n: number;
  at: number;
  id: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: {
    id: string;
    type: string;
    timestamp: string;
    agent: string;
    seq: number;
    topic: string;
    data: unknown;
    [k: string]: unknown;
  };
  /** The signature checked out against one of the receiver's keys (always true with no keys). */
  verified: boolean;
  /** the body against the JSON Schema of its webhook-format (schemas/); [] when valid */
  schemaProblems: string[];
  /** The status the receiver answered: 401 when `verified` is false, else what `respond` chose. */
  status: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
}

/**
 * A real HTTP receiver on a free loopback port. Every request is verified with the
 * `standardwebhooks` package, as a cloud team would: a bad signature is answered 401 (so it
 * never shows in `delivered`) and counted in `badSignatures`. `respond` decides the other answers.
 *
 * Every body is also validated against the JSON Schema of the format its `webhook-format`
 * header names (README "Payload formats and versioning"); stop() throws if any was invalid,
 * so every test that receives webhooks checks the schemas too.
 */
export class Receiver {
  /** Every request, whatever its signature and answer, in arrival order. */
  readonly requests: Received[] = [];
  respond: (req: { n: number; id: string; body: string }) => Reply = () => ({ status: 200 });
  private server: Server | undefined;
  private wh: Webhook[];
  port = 0;

  private publicKeys: ReturnType<typeof createPublicKey>[];
  private scheme = 'http';

  /** `whsec_…` secrets are verified with standardwebhooks; `whpk_…` public keys check v1a with node:crypto. */
  constructor(secrets: string[] = []) {
    this.wh = secrets.filter((s) => s.startsWith('whsec_')).map((s) => new Webhook(s));
    this.publicKeys = secrets
      .filter((s) => s.startsWith('whpk_'))
      .map((s) =>
        createPublicKey({
          key: Buffer.concat([
            Buffer.from('302a300506032b6570032100', 'hex'),
            Buffer.from(s.slice(5), 'base64'),
          ]),
          format: 'der',
          type: 'spki',
        }),
      );
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}/hooks`;
  }

  private verifyV1a(body: string, headers: IncomingMessage['headers']): boolean {
    const signed = Buffer.from(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`);
    const entries = String(headers['webhook-signature'] ?? '')
      .split(' ')
      .filter((e) => e.startsWith('v1a,'));
    return entries.some((e) =>
      this.publicKeys.some((k) => cryptoVerify(null, signed, k, Buffer.from(e.slice(4), 'base64'))),
    );
  }

  /** Requests answered 2xx, in arrival order. All of them verified: a bad signature gets 401. */
  get delivered(): Received[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /**
   * Requests whose signature did not verify (answered 401). A test that claims "signed" asserts
   * this is 0: checking `verified` on `delivered` proves nothing, as those all verified.
   */
  get badSignatures(): number {
    return this.requests.reduce((n, r) => n + (r.verified ? 0 : 1), 0);
  }

  async start(port = 0, tls?: HttpsOptions): Promise<this> {
    const handler: RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        const body = raw.toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        const n = this.requests.length + 1;
        let verified = this.wh.length === 0 && this.publicKeys.length === 0;
        if (this.publicKeys.length > 0 && this.verifyV1a(body, req.headers)) verified = true;
        for (const w of this.wh) {
          try {
            w.verify(body, req.headers as Record<string, string>);
            verified = true;
          } catch {
            /* try the next secret */
          }
        }
        let json: Received['json'];
        try {
          json = JSON.parse(body);
        } catch {
          json = { id: '', type: '', timestamp: '', agent: '', seq: -1, topic: '', data: null };
        }
        const reply = verified ? this.respond({ n, id, body }) : { status: 401, body: 'bad signature' };
        const rec: Received = {
          n,
          at: Date.now(),
          id,
          headers: req.headers,
          body,
          json,
          verified,
          schemaProblems: schemaProblems(
            headerValue(req.headers['webhook-format']),
            body,
            headerValue(req.headers['content-type']),
          ),
          status: reply.status,
        };
        this.requests.push(rec);
        const send = () => {
          res.writeHead(reply.status, reply.headers ?? {});
          res.end(reply.body ?? '');
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    };
    this.scheme = tls ? 'https' : 'http';
    this.server = tls ? createHttpsServer(tls, handler) : createServer(handler);
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const invalid = this.requests.filter((r) => r.schemaProblems.length > 0);
    if (invalid.length > 0)
      throw new Error(
        `${invalid.length} of ${this.requests.length} webhook bodies do not match their format's schema; ` +
          `request ${invalid[0]!.n}: ${invalid[0]!.schemaProblems.join('; ')}\n${invalid[0]!.body.slice(0, 500)}`,
      );
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
