/**
 * Generated hostile MQTT input for a `payload: json` subscription: each bad payload with the
 * reason the agent must give when it keeps it as a rejected event (src/ingest/route.ts).
 */

export interface BadPayload {
  kind: 'invalid JSON' | 'invalid UTF-8' | 'deep nesting' | 'empty' | 'binary garbage' | '10 MB';
  payload: Buffer;
  reason: RegExp;
}

// The key phrase of each reason (src/ingest/route.ts), not its exact wording.
const NOT_JSON = /\bnot JSON\b/;
const NOT_UTF8 = /\bnot valid UTF-8\b/;
const TOO_DEEP = /\bnested deeper than 128 levels\b/;
const EMPTY = /\bempty\b/;

const INVALID_JSON = [
  '{"a":',
  "{'single': 'quotes'}",
  '[1,2,,3]',
  'NaN',
  '{"a":1}}',
  'undefined',
  '{"a":01}',
  '{"a":"tab\there"}',
  '{"a":"nul\u0000here"}',
  '\uFEFF{"bom":true}',
  '{"a":1,}',
  '"unterminated',
  'tru',
  '{"a":1} {"b":2}',
  '0x1F',
  '{"a":Infinity}',
  '<xml/>',
  '--',
];

const INVALID_UTF8 = [
  [0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0xfe, 0x7d], // 0xFF never appears in UTF-8
  [0x22, 0x80, 0x22], // a lone continuation byte
  [0x22, 0xe2, 0x82, 0x22], // a truncated three-byte sequence
  [0xc0, 0xaf], // overlong "/"
  [0xed, 0xa0, 0x80], // a UTF-16 surrogate encoded as UTF-8
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0x7b, 0x7d, 0xc3], // valid "{}" then half a character
];

/** xorshift32: the same garbage on every run. */
function garbage(seed: number, n: number): Buffer {
  let x = (seed * 2654435761) >>> 0 || 1;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  out[n >> 1] = 0xff; // certainly not UTF-8
  return out;
}

export const TEN_MB = 10 * 1024 * 1024;

/** The k-th of the hostile payloads (k from 0); two of every 1,000 are 10 MB. */
export function badPayload(k: number): BadPayload {
  if (k === 500)
    return { kind: '10 MB', payload: Buffer.from(`{"big":"${'x'.repeat(TEN_MB)}`), reason: NOT_JSON };
  if (k === 501) return { kind: '10 MB', payload: garbage(k, TEN_MB), reason: NOT_UTF8 };
  switch (k % 5) {
    case 0:
      return {
        kind: 'invalid JSON',
        payload: Buffer.from(INVALID_JSON[(k / 5) % INVALID_JSON.length]!),
        reason: NOT_JSON,
      };
    case 1:
      return {
        kind: 'invalid UTF-8',
        payload: Buffer.from(INVALID_UTF8[((k - 1) / 5) % INVALID_UTF8.length]!),
        reason: NOT_UTF8,
      };
    case 2: {
      // From just past the limit to far past it (V8 itself would parse 100,000 levels).
      const depth = k % 3 === 0 ? 129 : k % 3 === 1 ? 1_000 + k : k % 45 === 2 ? 100_000 : 5_000;
      const text =
        k % 2 === 0 ? '['.repeat(depth) + ']'.repeat(depth) : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      return { kind: 'deep nesting', payload: Buffer.from(text), reason: TOO_DEEP };
    }
    case 3:
      return { kind: 'empty', payload: Buffer.from(['', ' ', '\n', '\t \r\n'][k % 4]!), reason: EMPTY };
    default:
      return { kind: 'binary garbage', payload: garbage(k, 16 + (k % 200)), reason: NOT_UTF8 };
  }
}

/**
 * Topics a device might use that are still valid MQTT topic names (no "+" or "#", no U+0000):
 * unicode, very long, many levels, empty levels, spaces. (Mosquitto itself disconnects a client
 * that publishes to a topic of 200 levels or more, so "many" stays below that.)
 */
export const ODD_TOPICS = [
  'in/ünïcödé/温度/🌡️',
  `in/long/${'l'.repeat(20_000)}`,
  `in/${'level/'.repeat(150)}end`,
  'in//empty//levels/',
  'in/with space/and $dollar/and "quotes"',
  'in/right-to-left/\u202eevil',
];
