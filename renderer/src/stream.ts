import type { AgentStatus, DeliveryEvent, RatesSample } from '../../src/admin/api-types.js';
import { api } from './api.js';

/**
 * One EventSource on GET /api/stream for the whole app, so the chart keeps its history while
 * another page is shown. EventSource reconnects by itself after a dropped connection; after a
 * refused one (401, 404) it gives up, so we start a new one a few seconds later.
 */

export interface StreamEvents {
  status: AgentStatus;
  delivery: DeliveryEvent;
  rates: RatesSample;
  connection: boolean;
}

type Listener<K extends keyof StreamEvents> = (data: StreamEvents[K]) => void;

/** Seconds of rate samples kept for the dashboard chart. */
export const RATE_HISTORY = 300;

class Stream {
  private source: EventSource | undefined;
  private retryTimer: number | undefined;
  private readonly listeners: { [K in keyof StreamEvents]: Set<Listener<K>> } = {
    status: new Set(),
    delivery: new Set(),
    rates: new Set(),
    connection: new Set(),
  };
  readonly rates: RatesSample[] = [];
  connected = false;

  start(): void {
    if (this.source) return;
    const es = new EventSource('/api/stream');
    this.source = es;
    es.addEventListener('open', () => this.setConnected(true));
    es.addEventListener('error', () => {
      this.setConnected(false);
      if (es.readyState === EventSource.CLOSED) {
        this.source = undefined;
        // A refused stream may mean the session is gone: a status request shows the login hint.
        api.status().catch(() => undefined);
        this.retryTimer = window.setTimeout(() => this.start(), 5000);
      }
    });
    es.addEventListener('status', (ev) => this.emit('status', parse<AgentStatus>(ev)));
    es.addEventListener('delivery', (ev) => this.emit('delivery', parse<DeliveryEvent>(ev)));
    es.addEventListener('rates', (ev) => {
      const sample = parse<RatesSample>(ev);
      if (!sample) return;
      this.rates.push(sample);
      if (this.rates.length > RATE_HISTORY) this.rates.splice(0, this.rates.length - RATE_HISTORY);
      this.emit('rates', sample);
    });
  }

  stop(): void {
    window.clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = undefined;
  }

  on<K extends keyof StreamEvents>(kind: K, fn: Listener<K>): () => void {
    this.listeners[kind].add(fn);
    return () => this.listeners[kind].delete(fn);
  }

  private setConnected(v: boolean): void {
    if (this.connected === v) return;
    this.connected = v;
    this.emit('connection', v);
  }

  private emit<K extends keyof StreamEvents>(kind: K, data: StreamEvents[K] | undefined): void {
    if (data === undefined) return;
    for (const fn of this.listeners[kind]) fn(data);
  }
}

function parse<T>(ev: Event): T | undefined {
  try {
    return JSON.parse((ev as MessageEvent<string>).data) as T;
  } catch {
    return undefined;
  }
}

export const stream = new Stream();
