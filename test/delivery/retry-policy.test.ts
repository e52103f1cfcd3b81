import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE } from '../../src/config/schema.js';
import {
  ENDPOINT_TROUBLE_ERROR_CODES,
  ENDPOINT_TROUBLE_STATUSES,
  MAX_RETRY_AFTER_MS,
  classify,
  endpointBackoffMs,
  errorKind,
  isExpired,
  messageRetryDelayMs,
  parseRetryAfter,
  type Classification,
} from '../../src/delivery/retry-policy.js';

const NOW = Date.UTC(2026, 10, 24, 8, 0, 0); // Tue, 24 Nov 2026 08:00:00 GMT
const HOUR = 3_600_000;

describe('classify: responses', () => {
  it.each<[number, Classification]>([
    [200, 'delivered'],
    [201, 'delivered'],
    [202, 'delivered'],
    [204, 'delivered'],
    [299, 'delivered'],
    [410, 'gone'],
    [408, 'endpoint-trouble'],
    [429, 'endpoint-trouble'],
    [500, 'endpoint-trouble'],
    [502, 'endpoint-trouble'],
    [503, 'endpoint-trouble'],
    [504, 'endpoint-trouble'],
    [599, 'endpoint-trouble'],
    [301, 'message-trouble'],
    [302, 'message-trouble'],
    [307, 'message-trouble'],
    [308, 'message-trouble'],
    [400, 'message-trouble'],
    [401, 'message-trouble'],
    [403, 'message-trouble'],
    [404, 'message-trouble'],
    [409, 'message-trouble'],
    [413, 'message-trouble'],
    [422, 'message-trouble'],
    [100, 'message-trouble'],
    [600, 'message-trouble'],
  ])('%i → %s', (status, expected) => {
    expect(classify({ kind: 'response', status })).toBe(expected);
  });

  it('a Retry-After does not change the classification', () => {
    expect(classify({ kind: 'response', status: 429, retryAfter: '120' })).toBe('endpoint-trouble');
    expect(classify({ kind: 'response', status: 400, retryAfter: '120' })).toBe('message-trouble');
  });

  it('the status list is 408, 429 and all of 5xx', () => {
    expect(ENDPOINT_TROUBLE_STATUSES).toHaveLength(102);
    expect(ENDPOINT_TROUBLE_STATUSES).toEqual(expect.arrayContaining([408, 429, 500, 599]));
    expect(ENDPOINT_TROUBLE_STATUSES).not.toContain(600);
  });
});

describe('classify: errors are always endpoint trouble', () => {
  it.each([
    ['ECONNREFUSED', 'connection'],
    ['ECONNRESET', 'connection'],
    ['EPIPE', 'connection'],
    ['EHOSTUNREACH', 'connection'],
    ['ENETUNREACH', 'connection'],
    ['ECONNABORTED', 'connection'],
    ['UND_ERR_SOCKET', 'connection'],
    ['UND_ERR_CLOSED', 'connection'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['ETIMEDOUT', 'timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'timeout'],
    ['TIMEOUT', 'timeout'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['ESOMETHING_NEW', 'unknown'],
    ['', 'unknown'],
  ])('%s (%s)', (code, kind) => {
    expect(classify({ kind: 'error', code })).toBe('endpoint-trouble');
    expect(errorKind(code)).toBe(kind);
    expect(ENDPOINT_TROUBLE_ERROR_CODES.includes(code)).toBe(kind !== 'unknown');
  });
});

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it.each<[string, string | null | undefined, number | undefined]>([
    ['delta-seconds', '120', 120_000],
    ['zero seconds', '0', 0],
    ['surrounding whitespace', ' 5 ', 5_000],
    ['IMF-fixdate', 'Tue, 24 Nov 2026 08:02:00 GMT', 120_000],
    ['obsolete RFC 850 date', 'Tuesday, 24-Nov-26 08:02:00 GMT', 120_000],
    ['obsolete asctime date (read as UTC)', 'Tue Nov 24 08:02:00 2026', 120_000],
    ['asctime with a one-digit day', 'Mon Nov  2 08:00:00 2026', -22 * 24 * HOUR],
    ['IMF-fixdate now', 'Tue, 24 Nov 2026 08:00:00 GMT', 0],
    ['IMF-fixdate in the past', 'Sun, 06 Nov 1994 08:49:37 GMT', 0],
    ['RFC 850 year 94 is 1994, in the past', 'Sunday, 06-Nov-94 08:49:37 GMT', 0],
    ['RFC 850 year 70 is 2070', 'Tuesday, 01-Jan-70 00:00:00 GMT', Date.UTC(2070, 0, 1) - NOW],
    ['garbage word', 'soon', undefined],
    ['negative seconds', '-5', undefined],
    ['fractional seconds', '1.5', undefined],
    ['digits then text', '12abc', undefined],
    ['empty', '', undefined],
    ['only spaces', '   ', undefined],
    ['null', null, undefined],
    ['undefined', undefined, undefined],
    ['date that does not exist', 'Mon, 31 Nov 2026 08:00:00 GMT', undefined],
    ['hour out of range', 'Tue, 24 Nov 2026 25:00:00 GMT', undefined],
    ['zone other than GMT', 'Tue, 24 Nov 2026 08:02:00 PST', undefined],
    ['ISO 8601 (not an HTTP-date)', '2026-11-24T08:02:00Z', undefined],
  ])('%s: %j', (_name, value, expected) => {
    // A past date is "now", never negative.
    const want = expected === undefined ? undefined : Math.max(0, expected);
    expect(parseRetryAfter(value, NOW)).toBe(want);
  });

  it('stays finite for absurdly long delays (the backoff clamps them)', () => {
    const ms = parseRetryAfter('9'.repeat(400), NOW);
    expect(Number.isFinite(ms)).toBe(true);
    expect(endpointBackoffMs({ failures: 1, random: () => 0, retryAfterMs: ms })).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('endpointBackoffMs', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [5, 16_000],
    [6, 30_000],
    [7, 30_000],
    [50, 30_000],
    [5_000, 30_000],
  ])('failure %i: full jitter in [0, %i)', (failures, ceiling) => {
    expect(endpointBackoffMs({ failures, random: () => 0 })).toBe(0);
    const high = endpointBackoffMs({ failures, random: () => 0.999 });
    expect(high).toBeLessThan(ceiling);
    expect(high).toBeGreaterThanOrEqual(ceiling * 0.999 - 1);
    expect(endpointBackoffMs({ failures, random: () => 0.5 })).toBe(ceiling / 2);
  });

  it('honours base and cap', () => {
    expect(endpointBackoffMs({ failures: 3, random: () => 0.5, baseMs: 100 })).toBe(200);
    expect(endpointBackoffMs({ failures: 10, random: () => 0.999, capMs: 5_000 })).toBe(4_995);
    expect(endpointBackoffMs({ failures: 10, random: () => 0.5, baseMs: 0 })).toBe(0);
  });

  it('no failure yet: no wait', () => {
    expect(endpointBackoffMs({ failures: 0, random: () => 0.999 })).toBe(0);
  });

  it.each([
    ['Retry-After 120 s beats the 30 s cap', 120_000, 0, 120_000],
    ['Retry-After 120 s with the highest jitter', 120_000, 0.999, 120_000],
    ['a short Retry-After is a floor, jitter may wait longer', 1_000, 0.999, 29_970],
    ['Retry-After 0 changes nothing', 0, 0.5, 15_000],
    ['clamped to 24 h', 7 * 24 * HOUR, 0, MAX_RETRY_AFTER_MS],
    ['undefined (garbage header) falls back to backoff', undefined, 0.5, 15_000],
    ['negative is ignored', -5_000, 0.5, 15_000],
    ['NaN is ignored', Number.NaN, 0.5, 15_000],
  ])('%s', (_name, retryAfterMs, r, expected) => {
    const delay = endpointBackoffMs({ failures: 10, random: () => r, retryAfterMs });
    expect(delay).toBe(expected);
    if (retryAfterMs !== undefined && retryAfterMs > 0) {
      expect(delay).toBeGreaterThanOrEqual(Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
    }
  });

  it('Retry-After "120" from a 503 end to end waits at least 120 s', () => {
    const retryAfterMs = parseRetryAfter('120', NOW);
    for (const r of [0, 0.3, 0.999]) {
      expect(endpointBackoffMs({ failures: 1, random: () => r, retryAfterMs })).toBeGreaterThanOrEqual(
        120_000,
      );
    }
  });
});

describe('messageRetryDelayMs', () => {
  const schedule = [5, 300, 1800];

  it.each([
    [1, 5_000],
    [2, 300_000],
    [3, 1_800_000],
    [4, undefined],
    [100, undefined],
  ])('after failed attempt %i → %s', (attempts, expected) => {
    expect(messageRetryDelayMs(attempts, schedule)).toBe(expected);
  });

  it('the default (Standard Webhooks) schedule gives 9 retries, then dead letter', () => {
    const delays = DEFAULT_RETRY_SCHEDULE.map((_, i) => messageRetryDelayMs(i + 1, DEFAULT_RETRY_SCHEDULE));
    expect(delays).toEqual([5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400].map((s) => s * 1000));
    expect(messageRetryDelayMs(DEFAULT_RETRY_SCHEDULE.length + 1, DEFAULT_RETRY_SCHEDULE)).toBeUndefined();
  });

  it('fractional seconds become whole milliseconds', () => {
    expect(messageRetryDelayMs(1, [0.25])).toBe(250);
  });

  it('an empty schedule dead-letters at the first failure', () => {
    expect(messageRetryDelayMs(1, [])).toBeUndefined();
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects attemptsSoFar %s (counted from 1)', (n) => {
    expect(() => messageRetryDelayMs(n, schedule)).toThrow(RangeError);
  });
});

describe('isExpired', () => {
  it.each([
    ['just received', NOW, 72, false],
    ['71 h old', NOW - 71 * HOUR, 72, false],
    ['exactly 72 h old', NOW - 72 * HOUR, 72, false],
    ['72 h and 1 ms old', NOW - 72 * HOUR - 1, 72, true],
    ['fractional max age', NOW - 31 * 60_000, 0.5, true],
    ['clock went backwards (future receivedAt)', NOW + HOUR, 72, false],
  ])('%s', (_name, receivedAt, maxAgeHours, expected) => {
    expect(isExpired(receivedAt, NOW, maxAgeHours)).toBe(expected);
  });
});
