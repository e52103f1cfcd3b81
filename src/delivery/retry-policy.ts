/**
 * Retry policy as data plus pure functions (the undici `lib/handler/retry-handler.js` habit):
 * no timers, no Date.now(), no Math.random() — the clock and the randomness are parameters, so
 * every decision is a table-driven test and the dispatcher owns all the waiting.
 *
 * Two kinds of failure (README "Delivery"):
 * - endpoint trouble: the endpoint as a whole backs off, then probes, then drains;
 * - message trouble: only that delivery follows its own schedule, then is dead-lettered.
 */

/** The receiver host cannot be reached or refused the connection outright. */
export const CONNECTION_ERROR_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
] as const;

/** Name resolution failed; on a gateway this is usually "the uplink is down". */
export const DNS_ERROR_CODES = ['ENOTFOUND', 'EAI_AGAIN'] as const;

/** Nothing (or not enough) came back in time. 'TIMEOUT' is our own per-endpoint timeoutMs. */
export const TIMEOUT_ERROR_CODES = [
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'TIMEOUT',
] as const;

/**
 * Certificate problems. Also endpoint trouble: the fix (renewing a certificate, setting the
 * clock of a gateway that booted without RTC) is on the endpoint's side or the device's, never
 * in the message, and a backlog must survive until it is fixed.
 */
export const TLS_ERROR_CODES = [
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
] as const;

/**
 * Failures where no server received anything: the connection was refused or the network/host
 * is unreachable. Probing costs a SYN, not a server's work, so the probe interval is capped
 * low (UNREACHABLE_PROBE_CAP_MS): a gateway whose uplink comes back starts draining within
 * about two seconds instead of waiting out a 30 s backoff.
 */
export const UNREACHABLE_ERROR_CODES: readonly string[] = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'];
export const UNREACHABLE_PROBE_CAP_MS = 2000;

export const ENDPOINT_TROUBLE_ERROR_CODES: readonly string[] = [
  ...CONNECTION_ERROR_CODES,
  ...DNS_ERROR_CODES,
  ...TIMEOUT_ERROR_CODES,
  ...TLS_ERROR_CODES,
];

/**
 * 408 Request Timeout and 429 Too Many Requests (RFC 9110 §15.5.9, RFC 6585 §4) say "not now",
 * as does every 5xx (RFC 9110 §15.6): the server's fault, not the message's.
 */
export const ENDPOINT_TROUBLE_STATUSES: readonly number[] = [
  408,
  429,
  ...Array.from({ length: 100 }, (_, i) => 500 + i),
];

/** 410 Gone: the receiver says the hook is permanently removed; the endpoint is disabled. */
export const GONE_STATUS = 410;

/** Retry-After is honoured beyond the backoff cap, but never beyond this. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

export type AttemptOutcome =
  | { kind: 'response'; status: number; retryAfter?: string | null }
  | { kind: 'error'; code: string };

export type Classification = 'delivered' | 'endpoint-trouble' | 'message-trouble' | 'gone';

export type ErrorKind = 'connection' | 'dns' | 'timeout' | 'tls' | 'unknown';

const statusSet = new Set(ENDPOINT_TROUBLE_STATUSES);
const errorKinds = new Map<string, ErrorKind>([
  ...CONNECTION_ERROR_CODES.map((c) => [c, 'connection'] as const),
  ...DNS_ERROR_CODES.map((c) => [c, 'dns'] as const),
  ...TIMEOUT_ERROR_CODES.map((c) => [c, 'timeout'] as const),
  ...TLS_ERROR_CODES.map((c) => [c, 'tls'] as const),
]);

/** What an error code means, for logs, metrics and the UI ("DNS failure" beats "EAI_AGAIN"). */
export function errorKind(code: string): ErrorKind {
  return errorKinds.get(code) ?? 'unknown';
}

export function classify(outcome: AttemptOutcome): Classification {
  if (outcome.kind === 'error') {
    // Every error, listed or not: a request that never got an answer says nothing about the
    // message, and blaming it would dead-letter good events while the uplink is down.
    return 'endpoint-trouble';
  }
  const { status } = outcome;
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === GONE_STATUS) return 'gone';
  if (statusSet.has(status)) return 'endpoint-trouble';
  // 3xx: redirects are not followed (a signed POST must not wander to another host), so a
  // redirect is a failure of this message's delivery; other 4xx are the receiver rejecting it.
  return 'message-trouble';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: recipients MUST accept all three HTTP-date forms.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: string, h: string, m: string, s: string): number | undefined {
  const mon = MONTHS.indexOf(month);
  const [d, hh, mm, ss] = [day, h, m, s].map((x) => Number(x.trim())) as [number, number, number, number];
  const ms = Date.UTC(year, mon, d, hh, mm, ss);
  const back = new Date(ms);
  // Date.UTC rolls "Feb 30" over to March; a date that does not exist is garbage, not a wait.
  const same = back.getUTCDate() === d && back.getUTCHours() === hh && back.getUTCMinutes() === mm;
  if (!same || back.getUTCSeconds() !== ss) return undefined;
  return ms;
}

/**
 * Parses an HTTP-date by hand rather than with Date.parse, which accepts all kinds of
 * non-dates and reads asctime (no zone) as local time.
 */
function parseHttpDate(value: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = ASCTIME_DATE.exec(value);
  if (m) return utc(Number(m[6]), m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
  m = RFC850_DATE.exec(value);
  if (m) {
    // RFC 9110 §5.6.7: a two-digit year that looks more than 50 years in the future is the
    // most recent past year with those last two digits.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  return undefined;
}

/**
 * Retry-After (RFC 9110 §10.2.3) in milliseconds from `nowMs`: `delay-seconds` (1*DIGIT) or an
 * HTTP-date. A date in the past means "now" (0). Anything else is ignored (undefined), so a
 * broken header falls back to the ordinary backoff instead of stalling the endpoint.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  const at = parseHttpDate(text, nowMs);
  return at === undefined ? undefined : Math.max(0, at - nowMs);
}

export interface EndpointBackoffInput {
  /** Consecutive endpoint-trouble failures, including the one just seen (1 = first). */
  failures: number;
  /** Uniform in [0, 1); Math.random in production, a constant in tests. */
  random: () => number;
  baseMs?: number;
  capMs?: number;
  /** From parseRetryAfter: the receiver asked us to wait at least this long. */
  retryAfterMs?: number | undefined;
}

/**
 * How long the whole endpoint waits before its next probe: exponential backoff with FULL
 * jitter (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015) — uniform in
 * [0, min(cap, base·2^(failures−1))). Full jitter keeps a fleet of gateways that lost the same
 * uplink from returning in lockstep; the small cap means a recovered uplink is noticed within
 * seconds and the backlog drains at full speed (README "Delivery").
 *
 * Retry-After is a floor, and the only thing allowed past the cap (429/503, RFC 9110
 * §10.2.3), clamped to 24 h so one bad header cannot park an endpoint for years.
 */
export function endpointBackoffMs(input: EndpointBackoffInput): number {
  const { failures, random, baseMs = 1000, capMs = 30_000, retryAfterMs } = input;
  let delay = 0;
  if (failures >= 1) {
    // The exponent is bounded so a long outage cannot overflow to Infinity (or NaN with base 0).
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 52));
    const r = Math.min(Math.max(random(), 0), 1);
    delay = Math.floor(r * ceiling);
  }
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
    delay = Math.max(delay, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
  }
  return delay;
}

/**
 * The wait after the Nth failed message-trouble attempt (1-based: the first failure waits
 * schedule[0] seconds), or undefined when the schedule is used up and the delivery becomes
 * `failed` (dead letter). The default schedule is the Standard Webhooks one (README "Delivery").
 */
export function messageRetryDelayMs(
  attemptsSoFar: number,
  scheduleSeconds: readonly number[],
): number | undefined {
  if (!Number.isInteger(attemptsSoFar) || attemptsSoFar < 1) {
    throw new RangeError(`attemptsSoFar counts failed attempts from 1, got ${attemptsSoFar}`);
  }
  const seconds = scheduleSeconds[attemptsSoFar - 1];
  return seconds === undefined ? undefined : Math.round(seconds * 1000);
}

/** "Older than maxAgeHours": an event exactly at the limit is still delivered. */
export function isExpired(receivedAtMs: number, nowMs: number, maxAgeHours: number): boolean {
  return nowMs - receivedAtMs > maxAgeHours * 60 * 60 * 1000;
}
