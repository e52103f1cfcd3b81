/**
 * Time is injected (the zigbee2mqtt habit): schedules, backoff and expiry read `clock.now()`, so
 * tests can move time without sleeping.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that starts at the system time plus `offsetMs`; tests move it with `advance`. */
export class OffsetClock implements Clock {
  constructor(private offsetMs = 0) {}
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/**
 * The earliest time this build can plausibly run at. A Raspberry Pi has no real-time clock and
 * boots with the time it last saved, or 1970; signatures made then would be rejected by every
 * receiver (Standard Webhooks allows 5 minutes of skew), so delivery waits for a sane clock.
 */
export const EARLIEST_PLAUSIBLE_TIME = Date.UTC(2026, 10, 1);

export function clockPlausible(now: number): boolean {
  return now >= EARLIEST_PLAUSIBLE_TIME;
}
