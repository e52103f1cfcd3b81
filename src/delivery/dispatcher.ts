import { isDeepStrictEqual } from 'node:util';
import type { EndpointConfig } from '../config/schema.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { OutboxStore } from '../outbox/outbox-store.js';
import { EndpointQueue, type EndpointStatus, type Sender } from './endpoint-queue.js';
import { HttpSender } from './http-sender.js';
import { createSigner } from './sign.js';

export interface DispatcherDeps {
  endpoints: readonly EndpointConfig[];
  outbox: OutboxStore;
  clock: Clock;
  logger: Logger;
  agentId: string;
  random?: () => number;
  /** Tests may replace the HTTP sender; production uses undici. */
  createSender?: (endpoint: EndpointConfig, logger: Logger) => Sender;
}

/** Owns one EndpointQueue per configured endpoint and wakes them when events are committed. */
export class Dispatcher {
  private readonly queues = new Map<string, EndpointQueue>();
  private unsubscribe: (() => void)[] = [];
  private running = false;
  /** The endpoints of the last setEndpoints (before it: deps.endpoints). */
  private endpointSet: readonly EndpointConfig[] | undefined;

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    this.running = true;
    for (const ep of this.deps.endpoints) this.add(ep);
    this.unsubscribe.push(this.deps.outbox.onAppend(() => this.wakeAll()));
    this.unsubscribe.push(
      this.deps.outbox.onRemoved((seqs) => {
        for (const q of this.queues.values()) q.forget(seqs);
      }),
    );
  }

  private add(ep: EndpointConfig): void {
    const logger = this.deps.logger.child({ endpoint: ep.id });
    const sender = this.deps.createSender ? this.deps.createSender(ep, logger) : new HttpSender(ep, logger);
    const queue = new EndpointQueue({
      endpoint: ep,
      outbox: this.deps.outbox,
      sender,
      signer: createSigner(ep.secrets),
      clock: this.deps.clock,
      logger,
      agentId: this.deps.agentId,
      ...(this.deps.random ? { random: this.deps.random } : {}),
    });
    this.queues.set(ep.id, queue);
    if (this.running) queue.start();
  }

  /**
   * Replaces the endpoint set (admin edits): changed endpoints get a fresh queue; an unchanged
   * one keeps its queue, with its backoff and in-flight requests.
   */
  async setEndpoints(endpoints: readonly EndpointConfig[]): Promise<void> {
    const prev = new Map((this.endpointSet ?? this.deps.endpoints).map((e) => [e.id, e]));
    this.endpointSet = endpoints;
    const next = new Map(endpoints.map((e) => [e.id, e]));
    for (const [id, q] of this.queues) {
      if (!next.has(id)) {
        this.queues.delete(id);
        await q.stop();
      }
    }
    for (const ep of endpoints) {
      const old = this.queues.get(ep.id);
      if (old && isDeepStrictEqual(prev.get(ep.id), ep)) continue;
      if (old) {
        this.queues.delete(ep.id);
        await old.stop();
      }
      this.add(ep);
    }
  }

  queue(id: string): EndpointQueue | undefined {
    return this.queues.get(id);
  }

  statuses(): EndpointStatus[] {
    return [...this.queues.values()].map((q) => q.status());
  }

  wakeAll(): void {
    for (const q of this.queues.values()) q.wake();
  }

  async stop(graceMs?: number): Promise<void> {
    this.running = false;
    for (const u of this.unsubscribe.splice(0)) u();
    await Promise.all([...this.queues.values()].map((q) => q.stop(graceMs)));
  }
}
