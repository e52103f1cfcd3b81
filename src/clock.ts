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
