import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A receiver that misbehaves on purpose: each request is verified with `standardwebhooks` and
 * recorded, then `behave` answers it however the scenario needs (never, slowly, huge, 503…).
 * Unlike test/helpers/receiver.ts it hands the raw `res` to the scenario.
 */

export interface TroubleRequest {
  n: number;
  at: number;
  id: string;
  body: string;
  verified: boolean;
  /** Data parsed from the webhook body. */
  i: number | undefined;
  topic: string;
}

export type Behaviour = (req: TroubleRequest, res: ServerResponse) => void;

export class TroubleServer {
  readonly requests: TroubleRequest[] = [];
  /** Requests whose answer was a 2xx status line. */
  readonly accepted: TroubleRequest[] = [];
  behave: Behaviour = (_req, res) => res.writeHead(200).end();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly wh: Webhook;
  port = 0;

  constructor(secret: string) {
    this.wh = new Webhook(secret);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Requests for one topic, in arrival order. */
  on(topic: string): TroubleRequest[] {
    return this.requests.filter((r) => r.topic === topic);
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let verified = false;
        try {
          this.wh.verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          /* recorded as unverified */
        }
        let json: { data?: { i?: number }; topic?: string } = {};
        try {
          json = JSON.parse(body);
        } catch {
          /* not JSON: recorded as is */
        }
        const rec: TroubleRequest = {
          n: this.requests.length + 1,
          at: Date.now(),
          id: String(req.headers['webhook-id'] ?? ''),
          body,
          verified,
          i: json.data?.i,
          topic: json.topic ?? '',
        };
        this.requests.push(rec);
        const writeHead = res.writeHead.bind(res);
        res.writeHead = ((status: number, ...rest: unknown[]) => {
          if (status >= 200 && status < 300) this.accepted.push(rec);
          return (writeHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
        }) as typeof res.writeHead;
        // A failed write to a client that went away is part of these scenarios, not an error.
        res.on('error', () => undefined);
        this.behave(rec, res);
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
