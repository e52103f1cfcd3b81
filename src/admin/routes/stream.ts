import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { AttemptRecord } from '../../outbox/outbox-store.js';
import type { DeliveryEvent, RatesSample } from '../api-types.js';
import type { AdminApiDeps } from './api-deps.js';

/**
 * GET /api/stream: Server-Sent Events for the live UI (api-types.ts names the events).
 * One hub per server: its timers run only while someone listens, and every client gets the
 * same frames. A client that does not keep up loses delivery events rather than making the
 * agent buffer without bound.
 */

const STATUS_EVERY_MS = 500;
const RATES_EVERY_MS = 1000;
const HEARTBEAT_EVERY_MS = 15_000;
/** Past this much unsent data a client is too slow: it misses frames until it catches up. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class StreamHub {
  private readonly clients = new Set<ServerResponse>();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;
  private lastStatusKey = '';
  private lastStatusFrame = '';
  private deliveredSinceTick = 0;
  private lastTick = { at: 0, received: 0 };

  constructor(private readonly deps: AdminApiDeps) {}

  get size(): number {
    return this.clients.size;
  }

  add(res: ServerResponse): void {
    if (this.clients.size === 0) this.startTimers();
    this.clients.add(res);
    res.on('close', () => this.remove(res));
    this.checkStatus();
    // Every new client gets the current status at once, not only the next change.
    this.write(res, this.lastStatusFrame);
  }

  remove(res: ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (this.clients.size === 0) this.stopTimers();
  }

  /** Ends every stream (the server is closing; open streams would keep it from closing). */
  close(): void {
    for (const res of [...this.clients]) res.end();
    this.clients.clear();
    this.stopTimers();
  }

  private startTimers(): void {
    const now = this.deps.clock.now();
    this.lastTick = { at: now, received: this.deps.status().outbox.received };
    this.deliveredSinceTick = 0;
    this.unsubscribe = this.deps.outbox.onResults((records) => this.onResults(records));
    // Each tick reads the outbox; a failed read (an I/O error) skips that frame, never the process.
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(() => {
        try {
          fn();
        } catch (err) {
          this.deps.logger.warn(
            { err: (err as Error).message },
            'live update skipped: could not read status',
          );
        }
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(STATUS_EVERY_MS, () => this.broadcast(this.checkStatus() ? this.lastStatusFrame : ''));
    every(RATES_EVERY_MS, () => this.broadcast(frame('rates', this.sampleRates())));
    every(HEARTBEAT_EVERY_MS, () => this.broadcast(': keep-alive\n\n'));
  }

  private stopTimers(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.lastStatusKey = '';
  }

  /** True when the status changed since the last frame (uptime alone is not a change). */
  private checkStatus(): boolean {
    const status = this.deps.status();
    const key = JSON.stringify({ ...status, agent: { ...status.agent, uptimeSeconds: 0 } });
    if (key === this.lastStatusKey) return false;
    this.lastStatusKey = key;
    this.lastStatusFrame = frame('status', status);
    return true;
  }

  private sampleRates(): RatesSample {
    const now = this.deps.clock.now();
    const received = this.deps.status().outbox.received;
    const secs = Math.max(0.001, (now - this.lastTick.at) / 1000);
    const sample: RatesSample = {
      at: now,
      inPerSec: Math.max(0, received - this.lastTick.received) / secs,
      outPerSec: this.deliveredSinceTick / secs,
    };
    this.lastTick = { at: now, received };
    this.deliveredSinceTick = 0;
    return sample;
  }

  private onResults(records: readonly AttemptRecord[]): void {
    let out = '';
    for (const r of records) {
      if (!r.attempted && r.outcome !== 'expired') continue;
      if (r.outcome === 'delivered') this.deliveredSinceTick++;
      const ev: DeliveryEvent = {
        endpointId: r.endpointId,
        seq: r.seq,
        outcome: r.outcome,
        status: r.status ?? null,
        at: r.at,
      };
      out += frame('delivery', ev);
    }
    this.broadcast(out);
  }

  private broadcast(text: string): void {
    if (text === '') return;
    for (const res of this.clients) this.write(res, text);
  }

  private write(res: ServerResponse, text: string): void {
    if (text === '' || res.writableEnded || res.writableLength > MAX_BUFFERED_BYTES) return;
    res.write(text);
  }
}

export function registerStreamRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const hub = new StreamHub(deps);
  app.addHook('preClose', async () => hub.close());

  app.get('/stream', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // The stream is the connection's last response: once it ends (the server closing), the
      // socket goes too, rather than idling in keep-alive and holding the server's close.
      connection: 'close',
      // Reverse proxies (nginx) would otherwise hold the frames back.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    req.raw.socket.setNoDelay(true);
    hub.add(res);
  });
}
