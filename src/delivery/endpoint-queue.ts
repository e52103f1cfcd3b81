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
import { FORMAT_HEADER, renderBody } from './payload-format.js';
import { clockPlausible } from '../clock.js';

/**
 * One queue per endpoint (README "Delivery"; docs/architecture.md "The data path"). It reads the
 * endpoint's pending deliveries from the outbox in order, in pages, and sends them:
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
  /** nothing is sent while the system clock is implausible (see clockPlausible) */
  heldByClock: boolean;
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
  /** Names the agent in batch bodies. */
  agentId: string;
  random?: () => number;
}

/** Refill from SQLite when fewer than this many deliveries wait in memory. */
const LOW_WATER = 128;
const PAGE = 512;
const RETRY_SWEEP_MS = 1000;
const CLOCK_RECHECK_MS = 1000;
/** A failed read of the outbox (an I/O error) is tried again after this long. */
const OUTBOX_RETRY_MS = 1000;

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
  /**
   * False once a page came back short: the outbox holds nothing newer than `cursor` until
   * wake() says events were committed. Without it every answer and every commit re-ran the
   * page query (7 % of the agent under load, BENCHMARKS.md).
   */
  private mayHaveMore = true;
  /** Parallel ordering: deliveries set aside until their retry time; the retry sweep takes them back. */
  private awaitingRetry = 0;
  private state: EndpointState = 'healthy';
  private consecutiveFailures = 0;
  private backoffUntil = 0;
  private lastError: string | null = null;
  private lastStatus: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private heldByClock = false;
  private backingOffSince = 0;
  private readonly forgotten = new Set<number>();
  private tokens = 0;
  private tokensAt = 0;
  /** Batch splitting: deliveries up to this seq go in batches of at most splitLimit. */
  private splitUntilSeq = 0;
  private splitLimit = 1;
  private pinnedBatch: number[] | undefined;
  private readonly agentJson: string;
  private running = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: EndpointQueueDeps) {
    this.ep = deps.endpoint;
    this.log = deps.logger;
    this.random = deps.random ?? Math.random;
    this.agentJson = JSON.stringify(deps.agentId);
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
    this.mayHaveMore = true;
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
      blockedBy:
        head && head.nextAttemptAt > now
          ? { seq: head.seq, id: head.id, nextAttemptAt: head.nextAttemptAt }
          : null,
      heldByClock: this.heldByClock,
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
    this.buffer = this.buffer.filter((d) => !gone.has(d.seq));
    for (const s of seqs) {
      // One in flight is left to finish, but never goes back into the buffer (see settle).
      if (this.inflight.has(s)) this.forgotten.add(s);
      else this.known.delete(s);
    }
  }

  /** Sends a delivery again now (operator's retry or replay): reload from the outbox. */
  reload(): void {
    this.buffer = [];
    for (const s of [...this.known]) if (!this.inflight.has(s)) this.known.delete(s);
    this.cursor = 0;
    this.awaitingRetry = 0;
    this.wake();
  }

  /**
   * Looks for work. Runs from timers, setImmediate and request callbacks, so it never throws:
   * a failed read of the outbox (an I/O error) is logged and tried again a moment later.
   */
  private pump(): void {
    try {
      this.pumpNow();
    } catch (err) {
      this.outboxUnreadable(err);
      this.armTimer(OUTBOX_RETRY_MS);
    }
  }

  private outboxUnreadable(err: unknown): void {
    this.log.warn(
      { endpoint: this.ep.id, err: (err as Error).message },
      `could not read the outbox; trying again in ${OUTBOX_RETRY_MS} ms`,
    );
  }

  private pumpNow(): void {
    if (!this.running || this.state === 'disabled' || this.state === 'paused') return;
    this.refill();
    const now = this.deps.clock.now();
    // A gateway without a real-time clock boots in the past; receivers reject signatures more
    // than a few minutes off, so nothing is sent until the clock has been set.
    if (!clockPlausible(now)) {
      this.heldByClock = true;
      this.armTimer(CLOCK_RECHECK_MS);
      return;
    }
    this.heldByClock = false;
    if (this.state === 'backing-off') {
      if (now < this.backoffUntil) {
        this.armTimer(this.backoffUntil - now);
        return;
      }
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

  /** Starts the next request if one is due; false when there is nothing to start now. */
  private sendNext(now: number): boolean {
    for (;;) {
      const head = this.buffer[0];
      if (!head) {
        this.refill();
        if (!this.buffer[0]) return false;
        continue;
      }
      if (this.expireIfOld(head, now)) continue;
      if (head.nextAttemptAt > now) {
        if (this.ep.ordering === 'strict') {
          this.armTimer(head.nextAttemptAt - now);
          return false;
        }
        // parallel: it waits aside; the retry sweep brings it back when due.
        this.buffer.shift();
        this.known.delete(head.seq);
        this.awaitingRetry++;
        continue;
      }
      if (this.ep.ordering === 'strict' && this.inflight.size > 0) return false;
      const group = this.takeGroup(now);
      if (!group) return false;
      if (!this.takeToken(now)) {
        this.buffer = mergeBySeq(this.buffer, group);
        return false;
      }
      for (const d of group) this.inflight.set(d.seq, d);
      void this.attempt(group);
      return true;
    }
  }

  private expireIfOld(d: PendingDelivery, now: number): boolean {
    if (!this.tooOld(d, now)) return false;
    this.buffer.splice(this.buffer.indexOf(d), 1);
    this.known.delete(d.seq);
    this.deps.outbox.record({
      endpointId: this.ep.id,
      seq: d.seq,
      at: now,
      outcome: 'expired',
      newStatus: 'expired',
      attempted: false,
    });
    return true;
  }

  /**
   * An event received while the clock was implausible has an unknown age: it never expires by
   * age (its timestamp shows the time the gateway believed it was).
   */
  private tooOld(d: PendingDelivery, now: number): boolean {
    return clockPlausible(d.receivedAt) && isExpired(d.receivedAt, now, this.ep.retry.maxAgeHours);
  }

  /**
   * The head and, with batching, the due deliveries right after it (up to batch.maxEvents and
   * batch.maxBytes). With maxWaitMs a short batch waits for more until its first event is that
   * old. Returns undefined when it chose to wait.
   */
  private takeGroup(now: number): PendingDelivery[] | undefined {
    const { maxEvents, maxWaitMs, maxBytes } = this.ep.batch;
    const head = this.buffer[0]!;
    // A batch that failed is retried with the same events, so its webhook-id stays the same.
    const pinned = this.pinnedBatch;
    if (pinned && pinned[0] === head.seq) {
      const n = countPrefix(this.buffer, pinned);
      if (n > 1) return this.buffer.splice(0, n);
    }
    this.pinnedBatch = undefined;
    const limit = head.seq <= this.splitUntilSeq ? Math.min(this.splitLimit, maxEvents) : maxEvents;
    if (limit <= 1) return [this.buffer.shift()!];
    let n = 1;
    let bytes = head.body.length;
    while (n < limit && n < this.buffer.length) {
      const next = this.buffer[n]!;
      if (next.nextAttemptAt > now || bytes + next.body.length + 1 > maxBytes) break;
      if (this.tooOld(next, now)) break;
      bytes += next.body.length + 1;
      n++;
    }
    const waitUntil = head.receivedAt + maxWaitMs;
    if (n < maxEvents && maxWaitMs > 0 && now < waitUntil && head.seq > this.splitUntilSeq) {
      this.armTimer(waitUntil - now);
      return undefined;
    }
    return this.buffer.splice(0, n);
  }

  /** rateLimitPerSec as a token bucket: a burst of at most one second's worth. */
  private takeToken(now: number): boolean {
    const rate = this.ep.rateLimitPerSec;
    if (rate <= 0) return true;
    const capacity = Math.max(1, rate);
    this.tokens = Math.min(capacity, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.armTimer(Math.ceil(((1 - this.tokens) / rate) * 1000));
    return false;
  }

  private refill(): void {
    if (this.buffer.length >= LOW_WATER || !this.mayHaveMore) return;
    const rows = this.deps.outbox.loadPending(this.ep.id, this.cursor, PAGE);
    if (rows.length < PAGE) this.mayHaveMore = false;
    for (const r of rows) {
      this.cursor = r.seq;
      if (this.known.has(r.seq)) continue;
      this.known.add(r.seq);
      this.buffer.push(r);
    }
  }

  private sweepRetries(): void {
    if (!this.running || this.awaitingRetry === 0 || this.state === 'paused' || this.state === 'disabled')
      return;
    let due: PendingDelivery[];
    try {
      due = this.deps.outbox
        .loadDue(this.ep.id, this.cursor, this.deps.clock.now(), PAGE)
        .filter((r) => !this.known.has(r.seq));
    } catch (err) {
      // The sweep runs again on its own timer.
      this.outboxUnreadable(err);
      return;
    }
    if (due.length === 0) return;
    this.awaitingRetry = Math.max(0, this.awaitingRetry - due.length);
    for (const r of due) this.known.add(r.seq);
    this.buffer = mergeBySeq(this.buffer, due);
    this.wake();
  }

  private async attempt(group: PendingDelivery[]): Promise<void> {
    const started = this.deps.clock.now();
    let result: SendResult;
    try {
      // Rendered at each attempt from the stored body: a retry sends the same bytes, in the
      // format the endpoint has now (README "Payload formats and versioning").
      const { id, body, contentType } = renderBody(this.ep.format, group, this.agentJson);
      const headers = {
        'content-type': contentType,
        [FORMAT_HEADER]: this.ep.format,
        ...webhookHeaders(this.deps.signer, id, Math.floor(started / 1000), body),
      };
      result = await this.deps.sender.send(body, headers);
    } catch (err) {
      result = { kind: 'error', code: 'UNKNOWN', message: (err as Error).message, durationMs: 0 };
    }
    for (const d of group) this.inflight.delete(d.seq);
    this.settle(group, result, this.deps.clock.now(), started);
    this.drainIdleWaiters();
    this.pump();
  }

  private settle(group: PendingDelivery[], result: SendResult, now: number, startedAt: number): void {
    const outcome =
      result.kind === 'response'
        ? { kind: 'response' as const, status: result.status, retryAfter: result.retryAfter }
        : { kind: 'error' as const, code: result.code };
    const verdict = classify(outcome);
    const attempt = {
      endpointId: this.ep.id,
      at: now,
      attempted: true,
      durationMs: Math.round(result.durationMs),
      status: result.kind === 'response' ? result.status : undefined,
      error: result.kind === 'error' ? `${result.code}: ${result.message}` : undefined,
      response: result.kind === 'response' ? result.snippet : undefined,
    };
    const requeue = (outcomeName: 'endpoint-trouble' | 'gone' | 'message-trouble') => {
      for (const d of group)
        this.deps.outbox.record({
          ...attempt,
          seq: d.seq,
          outcome: outcomeName,
          newStatus: 'pending',
          nextAttemptAt: d.nextAttemptAt,
        });
      this.buffer = mergeBySeq(this.buffer, group);
    };
    // Events removed from the outbox while their request was in flight (dropped to make room,
    // deleted by an operator) are done here, whatever the answer.
    if (this.forgotten.size > 0) {
      const removed = group.filter((d) => this.forgotten.delete(d.seq));
      for (const d of removed) this.known.delete(d.seq);
      if (removed.length > 0) group = group.filter((d) => !removed.includes(d));
      if (group.length === 0) return;
    }
    this.lastStatus = result.kind === 'response' ? result.status : null;
    if (verdict === 'delivered') {
      for (const d of group) {
        this.known.delete(d.seq);
        this.deps.outbox.record({ ...attempt, seq: d.seq, outcome: 'delivered', newStatus: 'delivered' });
      }
      if (group[group.length - 1]!.seq >= this.splitUntilSeq) this.splitUntilSeq = 0;
      this.consecutiveFailures = 0;
      this.lastError = null;
      if (this.state === 'backing-off') {
        this.log.info({ endpoint: this.ep.id }, 'endpoint answers again: draining the backlog');
        this.setState('healthy');
      }
      return;
    }
    if (verdict === 'endpoint-trouble' && this.state === 'backing-off' && startedAt < this.backingOffSince) {
      // One of many parallel requests sent before the trouble began: the endpoint is already
      // backing off for it, so it does not push the backoff further (one failure per probe).
      requeue('endpoint-trouble');
      return;
    }
    if (verdict === 'endpoint-trouble') {
      this.consecutiveFailures++;
      const retryAfterMs = result.kind === 'response' ? parseRetryAfter(result.retryAfter, now) : undefined;
      let capMs = this.ep.retry.backoffMaxSeconds * 1000;
      if (result.kind === 'error' && UNREACHABLE_ERROR_CODES.includes(result.code))
        capMs = Math.min(capMs, UNREACHABLE_PROBE_CAP_MS);
      const wait = endpointBackoffMs({
        failures: this.consecutiveFailures,
        random: this.random,
        capMs,
        retryAfterMs,
      });
      this.backoffUntil = now + wait;
      this.lastError = attempt.error ?? `HTTP ${attempt.status ?? ''}`;
      requeue('endpoint-trouble');
      if (group.length > 1) this.pinnedBatch = group.map((d) => d.seq);
      if (this.state !== 'backing-off') {
        this.log.warn(
          { endpoint: this.ep.id, error: this.lastError, retryInMs: wait },
          'endpoint trouble: backing off',
        );
        this.backingOffSince = now;
        this.setState('backing-off');
      }
      return;
    }
    // The endpoint answered, so it is up; the trouble is the message's.
    this.consecutiveFailures = 0;
    if (this.state === 'backing-off') this.setState('healthy');
    if (verdict === 'gone') {
      this.lastError = 'HTTP 410 Gone: endpoint disabled';
      requeue('gone');
      this.log.error({ endpoint: this.ep.id }, 'endpoint answered 410 Gone: disabled until re-enabled');
      this.setState('disabled');
      return;
    }
    if (group.length > 1) {
      // A batch refused for a message-level reason: halve it until the bad event is alone, so
      // one poison event cannot hold back the rest. Only a lone event uses up its retries.
      this.splitLimit = Math.ceil(group.length / 2);
      this.splitUntilSeq = Math.max(this.splitUntilSeq, group[group.length - 1]!.seq);
      this.lastError = `HTTP ${attempt.status ?? ''} for a batch of ${group.length}: splitting it`;
      requeue('message-trouble');
      return;
    }
    const d = group[0]!;
    const failures = d.messageFailures + 1;
    const delay = messageRetryDelayMs(failures, this.ep.retry.schedule);
    this.lastError = `HTTP ${attempt.status ?? ''} for ${d.id}`;
    if (delay === undefined) {
      this.known.delete(d.seq);
      this.deps.outbox.record({
        ...attempt,
        seq: d.seq,
        outcome: 'failed',
        newStatus: 'failed',
        messageFailure: true,
      });
      this.log.warn(
        { endpoint: this.ep.id, event: d.id, status: attempt.status },
        'delivery failed after its last retry (dead letter)',
      );
      return;
    }
    const next = { ...d, messageFailures: failures, attempts: d.attempts + 1, nextAttemptAt: now + delay };
    this.deps.outbox.record({
      ...attempt,
      seq: d.seq,
      outcome: 'message-trouble',
      newStatus: 'pending',
      messageFailure: true,
      nextAttemptAt: next.nextAttemptAt,
    });
    if (this.ep.ordering === 'strict') this.buffer = mergeBySeq(this.buffer, [next]);
    else {
      this.known.delete(d.seq);
      this.awaitingRetry++;
    }
  }

  private setState(state: EndpointState): void {
    if (this.state === state) return;
    this.state = state;
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
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

/** How many leading deliveries of `buffer` have exactly the seqs of `seqs`, in order. */
function countPrefix(buffer: readonly PendingDelivery[], seqs: readonly number[]): number {
  let n = 0;
  while (n < seqs.length && buffer[n]?.seq === seqs[n]) n++;
  return n;
}

function mergeBySeq(a: PendingDelivery[], b: PendingDelivery[]): PendingDelivery[] {
  if (b.length === 0) return a;
  return a.concat(b).sort((x, y) => x.seq - y.seq);
}
