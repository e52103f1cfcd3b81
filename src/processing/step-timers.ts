import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { OutboxStore } from '../outbox/outbox-store.js';
import type { StepsStage } from './steps-stage.js';

/**
 * Runs the steps' timers (README, "Edge processing"): a throttled key's held message when its
 * interval ends, a window when it ends. Each run commits the emitted events together with the
 * state change that emits them (OutboxStore.appendEmitted). At start it runs at once, so
 * windows that ended while the agent was down are emitted. A failed commit (a full disk) is
 * logged and tried again; nothing here ever throws out of a timer.
 */

/** Keys handled per transaction; more wait for the next turn of the event loop. */
const KEYS_PER_RUN = 500;
const RETRY_MS = 1000;
/** Timers never wait longer than this, so a clock step forward is noticed. */
const MAX_WAIT_MS = 60_000;

export interface StepTimersDeps {
  stage: StepsStage;
  outbox: Pick<OutboxStore, 'appendEmitted' | 'ledger'>;
  clock: Clock;
  logger: Logger;
}

export class StepTimers {
  private timer: NodeJS.Timeout | undefined;
  private armedAt: number | undefined;
  private running = false;
  private failures = 0;

  constructor(private readonly deps: StepTimersDeps) {}

  start(): void {
    this.running = true;
    this.deps.stage.onDue((at) => this.wake(at));
    this.arm(this.deps.clock.now());
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = undefined;
  }

  /** A commit wrote a due time: make sure the timer fires by then. */
  wake(at: number): void {
    if (this.running && (this.armedAt === undefined || at < this.armedAt)) this.arm(at);
  }

  /** Emits everything due now; returns how many events were stored. Tests call it directly. */
  runDue(): number {
    let stored = 0;
    let more = true;
    while (more) {
      const { appendEmitted, ledger } = this.deps.outbox;
      stored += appendEmitted.call(this.deps.outbox, (now) => {
        const r = this.deps.stage.emitDue(now, KEYS_PER_RUN, { afterCommit: (fn) => ledger.afterCommit(fn) });
        more = r.more;
        return r.events;
      });
    }
    return stored;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, at - this.deps.clock.now()), MAX_WAIT_MS);
    this.armedAt = at;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = undefined;
    if (!this.running) return;
    try {
      const stored = this.runDue();
      if (stored > 0) this.deps.logger.debug({ stored }, 'step timers emitted events');
      if (this.failures > 0) this.deps.logger.info({ after: this.failures }, 'step timers run again');
      this.failures = 0;
      const next = this.deps.stage.nextDue();
      if (next !== undefined) this.arm(next);
      else this.arm(this.deps.clock.now() + MAX_WAIT_MS);
    } catch (err) {
      // The state and events of the failed run were rolled back together: retrying is safe.
      if (this.failures++ === 0)
        this.deps.logger.error(
          { err: (err as Error).message },
          'step timers could not store their events; retrying',
        );
      try {
        this.arm(this.deps.clock.now() + RETRY_MS);
      } catch {
        // Only the clock could throw here; the next commit's wake() arms again.
      }
    }
  }
}
