import type { EndpointConfig } from '../config/schema.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { OutboxStore, PendingDelivery } from '../outbox/outbox-store.js';
import {
  UNREACHABLE_ERROR_CODES,
  UNREACHABLE_PROBE_CAP_MS,
  classify,
  endpointBackoffMs,
  isExpired,
  messageRetryDelayMs,
  parseRetryAfter,
} from './retry-policy.js';
import type { SendResult } from './http-sender.js';
import { webhookHeaders, type Signer } from './sign.js';

/**
 * One queue per endpoint (DESIGN.md §2 dispatcher). It reads the endpoint's pending deliveries
 * from the outbox in order, in pages, and sends them:
 * - strict: one at a time, in seq order; the head blocks until it is delivered or settled;
 * - parallel: up to maxInFlight at once; a message in retry waits aside and later ones go on.
 * Endpoint trouble backs the whole endpoint off (full jitter, capped, Retry-After honoured) and
 * then sends one probe at a time; the first success drains the backlog at full speed.
 */

export type EndpointState = 'healthy' | 'backing-off' | 'disabled' | 'paused';

export interface EndpointStatus {
  id: string;
  state: EndpointState;
  inFlight: number;
  consecutiveFailures: number;
  backoffUntil: number | null;
  lastError: string | null;
  lastStatus: number | null;
  /** strict ordering: the delivery holding the others back while it waits for its retry. */
  blockedBy: { seq: number; id: string; nextAttemptAt: number } | null;
}

export interface Sender {
  send(body: string, signedHeaders: Record<string, string>): Promise<SendResult>;
  close(): Promise<void>;
}

export interface EndpointQueueDeps {
  endpoint: EndpointConfig;
  outbox: OutboxStore;
  sender: Sender;
  signer: Signer;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  onStateChange?: (status: EndpointStatus) => void;
}

/** Refill from SQLite when fewer than this many deliveries wait in memory. */
const LOW_WATER = 128;
const PAGE = 512;
const RETRY_SWEEP_MS = 1000;

export class EndpointQueue {
  private readonly ep: EndpointConfig;
  private readonly log: Logger;
  private readonly random: () => number;
  /** Loaded, not yet in flight, ascending seq. */
  private buffer: PendingDelivery[] = [];
  private readonly inflight = new Map<number, PendingDelivery>();
  /** seqs held in memory (buffer or in flight), so a retry sweep does not load them twice. */
  private readonly known = new Set<number>();
  private cursor = 0;
  private parked = 0;
  private state: EndpointState = 'healthy';
  private consecutiveFailures = 0;
  private backoffUntil = 0;
  private lastError: string | null = null;
  private lastStatus: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private running = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: EndpointQueueDeps) {
    this.ep = deps.endpoint;
    this.log = deps.logger;
    this.random = deps.random ?? Math.random;
  }

  get id(): string {
    return this.ep.id;
  }

  start(): void {
    this.running = true;
    if (!this.ep.enabled) this.state = 'disabled';
    this.sweepTimer = setInterval(() => this.sweepRetries(), RETRY_SWEEP_MS);
    this.sweepTimer.unref();
    this.wake();
  }

  /** New events were committed (or something changed): look for work soon. */
  wake(): void {
    if (this.pumpScheduled || !this.running) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  status(): EndpointStatus {
    const head = this.ep.ordering === 'strict' ? this.buffer[0] : undefined;
    const now = this.deps.clock.now();
    return {
      id: this.ep.id,
      state: this.state,
      inFlight: this.inflight.size,
      consecutiveFailures: this.consecutiveFailures,
      backoffUntil: this.state === 'backing-off' ? this.backoffUntil : null,
      lastError: this.lastError,
      lastStatus: this.lastStatus,
      blockedBy: head && head.nextAttemptAt > now ? { seq: head.seq, id: head.id, nextAttemptAt: head.nextAttemptAt } : null,
    };
  }

  pause(): void {
    if (this.state === 'disabled') return;
    this.setState('paused');
    this.clearTimer();
  }

  /** Resumes a paused endpoint, or re-enables one disabled by 410 Gone. */
  resume(): void {
    if (!this.ep.enabled) return;
    this.consecutiveFailures = 0;
    this.setState('healthy');
    this.wake();
  }

  /** Events removed from the outbox (dropped or deleted): forget those still waiting here. */
  forget(seqs: readonly number[]): void {
    const gone = new Set(seqs);
    const before = this.buffer.length;
    this.buffer = this.buffer.filter((d) => !gone.has(d.seq));
    if (this.buffer.length !== before) for (const s of seqs) if (!this.inflight.has(s)) this.known.delete(s);
  }

  /** Sends a delivery again now (operator's retry or replay): reload from the outbox. */
  reload(): void {
    this.buffer = [];
    for (const s of [...this.known]) if (!this.inflight.has(s)) this.known.delete(s);
    this.cursor = 0;
    this.parked = 0;
    this.wake();
  }

  private pump(): void {
    if (!this.running || this.state === 'disabled' || this.state === 'paused') return;
    this.refill();
    const now = this.deps.clock.now();
    if (this.state === 'backing-off') {
      if (now < this.backoffUntil) return this.armTimer(this.backoffUntil - now);
      // One probe at a time until the endpoint answers.
      if (this.inflight.size > 0) return;
      this.sendNext(now);
      return;
    }
    const capacity = this.ep.ordering === 'strict' ? 1 : this.ep.maxInFlight;
    while (this.inflight.size < capacity && this.state === 'healthy') {
      if (!this.sendNext(now)) break;
    }
  }

  /** Starts the next delivery if one is due; false when there is nothing to start now. */
  private sendNext(now: number): boolean {
    for (;;) {
      const head = this.buffer[0];
      if (!head) {
        this.refill();
        if (!this.buffer[0]) return false;
        continue;
      }
      if (isExpired(head.receivedAt, now, this.ep.retry.maxAgeHours)) {
        this.buffer.shift();
        this.known.delete(head.seq);
        this.deps.outbox.record({ endpointId: this.ep.id, seq: head.seq, at: now, outcome: 'expired', newStatus: 'expired', attempted: false });
        continue;
      }
      if (head.nextAttemptAt > now) {
        if (this.ep.ordering === 'strict') {
          this.armTimer(head.nextAttemptAt - now);
          return false;
        }
        // parallel: it waits aside; the retry sweep brings it back when due.
        this.buffer.shift();
        this.known.delete(head.seq);
        this.parked++;
        continue;
      }
      if (this.ep.ordering === 'strict' && this.inflight.size > 0) return false;
      this.buffer.shift();
      this.inflight.set(head.seq, head);
      void this.attempt(head);
      return true;
    }
  }

  private refill(): void {
    if (this.buffer.length >= LOW_WATER) return;
    const rows = this.deps.outbox.loadPending(this.ep.id, this.cursor, PAGE);
    for (const r of rows) {
      this.cursor = r.seq;
      if (this.known.has(r.seq)) continue;
      this.known.add(r.seq);
      this.buffer.push(r);
    }
  }

  private sweepRetries(): void {
    if (!this.running || this.parked === 0 || this.state === 'paused' || this.state === 'disabled') return;
    const due = this.deps.outbox.loadDue(this.ep.id, this.cursor, this.deps.clock.now(), PAGE).filter((r) => !this.known.has(r.seq));
    if (due.length === 0) return;
    this.parked = Math.max(0, this.parked - due.length);
    for (const r of due) this.known.add(r.seq);
    this.buffer = mergeBySeq(this.buffer, due);
    this.wake();
  }

  private async attempt(d: PendingDelivery): Promise<void> {
    const started = this.deps.clock.now();
    const body = d.body;
    let result: SendResult;
    try {
      const headers = webhookHeaders(this.deps.signer, d.id, Math.floor(started / 1000), body);
      result = await this.deps.sender.send(body, headers);
    } catch (err) {
      result = { kind: 'error', code: 'UNKNOWN', message: (err as Error).message, durationMs: 0 };
    }
    this.inflight.delete(d.seq);
    this.settle(d, result, this.deps.clock.now());
    this.drainIdleWaiters();
    this.pump();
  }

  private settle(d: PendingDelivery, result: SendResult, now: number): void {
    const outcome = result.kind === 'response' ? { kind: 'response' as const, status: result.status, retryAfter: result.retryAfter } : { kind: 'error' as const, code: result.code };
    const verdict = classify(outcome);
    const base = {
      endpointId: this.ep.id,
      seq: d.seq,
      at: now,
      attempted: true,
      durationMs: Math.round(result.durationMs),
      status: result.kind === 'response' ? result.status : undefined,
      error: result.kind === 'error' ? `${result.code}: ${result.message}` : undefined,
      response: result.kind === 'response' ? result.snippet : undefined,
    };
    this.lastStatus = result.kind === 'response' ? result.status : null;
    if (verdict === 'delivered') {
      this.known.delete(d.seq);
      this.deps.outbox.record({ ...base, outcome: 'delivered', newStatus: 'delivered' });
      this.consecutiveFailures = 0;
      this.lastError = null;
      if (this.state === 'backing-off') {
        this.log.info({ endpoint: this.ep.id }, 'endpoint answers again: draining the backlog');
        this.setState('healthy');
      }
      return;
    }
    if (verdict === 'endpoint-trouble') {
      this.consecutiveFailures++;
      const retryAfterMs = result.kind === 'response' ? parseRetryAfter(result.retryAfter, now) : undefined;
      let capMs = this.ep.retry.backoffMaxSeconds * 1000;
      if (result.kind === 'error' && UNREACHABLE_ERROR_CODES.includes(result.code)) capMs = Math.min(capMs, UNREACHABLE_PROBE_CAP_MS);
      const wait = endpointBackoffMs({ failures: this.consecutiveFailures, random: this.random, capMs, retryAfterMs });
      this.backoffUntil = now + wait;
      this.lastError = base.error ?? `HTTP ${result.kind === 'response' ? result.status : ''}`;
      this.deps.outbox.record({ ...base, outcome: 'endpoint-trouble', newStatus: 'pending', nextAttemptAt: d.nextAttemptAt });
      this.buffer = mergeBySeq(this.buffer, [d]);
      if (this.state !== 'backing-off') {
        this.log.warn({ endpoint: this.ep.id, error: this.lastError, retryInMs: wait }, 'endpoint trouble: backing off');
        this.setState('backing-off');
      }
      return;
    }
    // The endpoint answered, so it is up; the trouble is this message's.
    this.consecutiveFailures = 0;
    if (this.state === 'backing-off') this.setState('healthy');
    if (verdict === 'gone') {
      this.lastError = 'HTTP 410 Gone: endpoint disabled';
      this.deps.outbox.record({ ...base, outcome: 'gone', newStatus: 'pending', nextAttemptAt: d.nextAttemptAt });
      this.buffer = mergeBySeq(this.buffer, [d]);
      this.log.error({ endpoint: this.ep.id }, 'endpoint answered 410 Gone: disabled until re-enabled');
      this.setState('disabled');
      return;
    }
    const failures = d.messageFailures + 1;
    const delay = messageRetryDelayMs(failures, this.ep.retry.schedule);
    this.lastError = `HTTP ${result.kind === 'response' ? result.status : ''} for ${d.id}`;
    if (delay === undefined) {
      this.known.delete(d.seq);
      this.deps.outbox.record({ ...base, outcome: 'failed', newStatus: 'failed', messageFailure: true });
      this.log.warn({ endpoint: this.ep.id, event: d.id, status: base.status }, 'delivery failed after its last retry (dead letter)');
      return;
    }
    const next = { ...d, messageFailures: failures, attempts: d.attempts + 1, nextAttemptAt: now + delay };
    this.deps.outbox.record({ ...base, outcome: 'message-trouble', newStatus: 'pending', messageFailure: true, nextAttemptAt: next.nextAttemptAt });
    if (this.ep.ordering === 'strict') this.buffer = mergeBySeq(this.buffer, [next]);
    else {
      this.known.delete(d.seq);
      this.parked++;
    }
  }

  private setState(state: EndpointState): void {
    if (this.state === state) return;
    this.state = state;
    this.deps.onStateChange?.(this.status());
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private drainIdleWaiters(): void {
    if (this.inflight.size > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops sending; waits up to `graceMs` for requests in flight, then abandons them. */
  async stop(graceMs = 5000): Promise<void> {
    this.running = false;
    this.clearTimer();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await this.deps.sender.close();
  }
}

function mergeBySeq(a: PendingDelivery[], b: PendingDelivery[]): PendingDelivery[] {
  if (b.length === 0) return a;
  return a.concat(b).sort((x, y) => x.seq - y.seq);
}
