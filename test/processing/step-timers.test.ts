import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { subscriptionSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { NewEvent } from '../../src/outbox/outbox-store.js';
import { StepStateStore } from '../../src/processing/step-state-store.js';
import { StepTimers } from '../../src/processing/step-timers.js';
import { StepsStage } from '../../src/processing/steps-stage.js';
import { clock, open, rows, useStoreFixture } from '../outbox/store-fixture.js';

/** The steps' timers on fake timers: they fire at the due time, and a failed commit is retried. */

useStoreFixture();
beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
afterEach(() => vi.useRealTimers());

function message(v: number): NewEvent {
  const text = JSON.stringify({ v });
  return {
    topic: 'm/1',
    type: 'm',
    receivedAt: clock.now(),
    payload: Buffer.from(text),
    data: { kind: 'json', json: text },
    subscription: 0,
  };
}

it('a window closes at its end; a commit that fails is logged and tried again, never thrown out of the timer', () => {
  const o = open();
  const sub = subscriptionSchema.parse({ topic: 'm/+', steps: [{ window: { seconds: 10, path: 'v' } }] });
  const stage = new StepsStage({
    store: new StepStateStore(o.db, o.store.ledger),
    subscriptions: [sub],
    maxKeys: 100,
    logger: silentLogger(),
  });
  o.store.setIngestStage(stage);
  const errors: string[] = [];
  const logger = {
    ...silentLogger(),
    error: (obj: unknown) => void errors.push(JSON.stringify(obj)),
  } as ReturnType<typeof silentLogger>;
  let failing = true;
  const outbox = {
    ledger: o.store.ledger,
    appendEmitted: (fn: (now: number) => readonly NewEvent[]) => {
      if (failing)
        return o.store.tx(() => {
          fn(clock.now());
          throw new Error('SQLITE_FULL: database or disk is full');
        });
      return o.store.appendEmitted(fn);
    },
  };
  const timers = new StepTimers({ stage, outbox, clock, logger });
  clock.t = 1_000_000;
  timers.start();
  o.store.append([message(1), message(3)]);
  // The window ends at 1,010,000: the timer fires then, and its commit fails.
  clock.t = 1_010_000;
  expect(() => vi.advanceTimersByTime(10_000)).not.toThrow();
  expect(errors.join()).toMatch(/disk is full/);
  expect(rows(o.db)).toEqual([]);
  // The state was rolled back with the failed commit: the retry emits the window, once.
  failing = false;
  clock.t += 1000;
  vi.advanceTimersByTime(1000);
  expect(rows(o.db).map((r) => JSON.parse(r.body).data)).toEqual([
    expect.objectContaining({ count: 2, avg: 2 }),
  ]);
  clock.t += 60_000;
  vi.advanceTimersByTime(60_000);
  expect(rows(o.db)).toHaveLength(1);
  timers.stop();
});
