/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, spec "Signature scheme").
 *
 * Every attempt signs `"<webhook-id>.<webhook-timestamp>.<body>"` afresh, so a retry carries
 * its own timestamp and stays inside the receiver's tolerance window (docs/architecture.md "Wire format").
 *
 * - `whsec_<base64>`: symmetric; the key is the base64 part *decoded* (not the text itself,
 *   which is the Stripe convention and not interchangeable). Entry: `v1,<base64 HMAC-SHA256>`.
 * - `whsk_<base64(seed ‖ public key)>`: asymmetric ed25519; receivers verify with the
 *   `whpk_<base64(public key)>` string. Entry: `v1a,<base64 ed25519 signature>`.
 *
 * While rotating, every active secret signs and the entries are space-separated: a receiver
 * accepts the request if any entry matches one of its keys.
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { EdgehookError, ErrorCodes } from '../errors.js';

export type ParsedSecret =
  | { kind: 'hmac'; key: Buffer }
  | { kind: 'ed25519'; privateKey: KeyObject; publicKey: string };

/** Builds the `webhook-signature` value for one attempt; '' when the endpoint has no secret. */
export type Signer = (id: string, timestampSec: number, body: string | Buffer) => string;

const HMAC_PREFIX = 'whsec_';
const ED25519_PREFIX = 'whsk_';
const PUBLIC_PREFIX = 'whpk_';

/** Spec: "The secret key SHOULD be 24-64 bytes"; we generate 32, like the reference libraries. */
const GENERATED_HMAC_BYTES = 32;
const ED25519_SEED_BYTES = 32;
const ED25519_PUBLIC_BYTES = 32;

/**
 * DER framing that turns a raw 32-byte seed into a PKCS#8 ed25519 private key (RFC 8410 §7),
 * and the SPKI framing in front of a raw public key (RFC 8410 §4). node:crypto has no "raw"
 * import for ed25519 in Node 20, so the seed is wrapped instead.
 */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function invalid(reason: string): EdgehookError {
  // The secret itself never goes into the message: errors end up in logs and the UI (§6).
  return new EdgehookError(ErrorCodes.SECRET_INVALID, `invalid signing secret: ${reason}`);
}

/**
 * Strict base64 decode. Buffer.from(…, 'base64') silently skips characters it does not know,
 * so a typo would quietly become a different key; re-encoding must give the input back.
 */
function decodeBase64(text: string, what: string): Buffer {
  if (text === '') throw invalid(`${what} is empty`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw invalid(`${what} is not base64 (expected A-Z a-z 0-9 + / and = padding)`);
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    throw invalid(`${what} is not canonical base64 (truncated or mistyped?)`);
  }
  return bytes;
}

function rawPublicKey(privateKey: KeyObject): Buffer {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_ED25519_PREFIX.length);
}

/** Parses a `whsec_…` or `whsk_…` secret; throws EDGEHOOK_ERR_SECRET_INVALID otherwise. */
export function parseSecret(secret: string): ParsedSecret {
  if (typeof secret !== 'string') throw invalid('expected a string');
  if (secret.startsWith(HMAC_PREFIX)) {
    const key = decodeBase64(secret.slice(HMAC_PREFIX.length), 'the part after "whsec_"');
    return { kind: 'hmac', key };
  }
  if (secret.startsWith(ED25519_PREFIX)) {
    const raw = decodeBase64(secret.slice(ED25519_PREFIX.length), 'the part after "whsk_"');
    if (raw.length !== ED25519_SEED_BYTES + ED25519_PUBLIC_BYTES) {
      throw invalid(`a whsk_ secret holds 64 bytes (32-byte seed, 32-byte public key), got ${raw.length}`);
    }
    const seed = raw.subarray(0, ED25519_SEED_BYTES);
    const embeddedPublic = raw.subarray(ED25519_SEED_BYTES);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({
        key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8',
      });
    } catch {
      throw invalid('the whsk_ seed is not a usable ed25519 key');
    }
    // A mismatch means the secret was assembled wrongly: receivers holding the embedded
    // whpk_ would reject every request, so refuse it at start instead.
    if (!rawPublicKey(privateKey).equals(embeddedPublic)) {
      throw invalid('the public key inside the whsk_ secret does not match its seed');
    }
    return { kind: 'ed25519', privateKey, publicKey: PUBLIC_PREFIX + embeddedPublic.toString('base64') };
  }
  throw invalid('expected "whsec_…" (HMAC-SHA256) or "whsk_…" (ed25519)');
}

/**
 * Parses every secret once and returns the per-request signer (the hot path does no parsing).
 * Throws on the first invalid secret, naming its position in the list.
 */
export function createSigner(secrets: readonly string[]): Signer {
  const entries = secrets.map((secret, index) => {
    let parsed: ParsedSecret;
    try {
      parsed = parseSecret(secret);
    } catch (err) {
      if (secrets.length === 1 || !(err instanceof EdgehookError)) throw err;
      throw new EdgehookError(ErrorCodes.SECRET_INVALID, `secret #${index + 1}: ${err.message}`);
    }
    return parsed.kind === 'hmac'
      ? { kind: 'hmac' as const, key: createSecretKey(parsed.key) }
      : { kind: 'ed25519' as const, privateKey: parsed.privateKey };
  });
  if (entries.length === 0) return () => '';

  return (id, timestampSec, body) => {
    if (!Number.isSafeInteger(timestampSec)) {
      // Spec: webhook-timestamp is integer unix *seconds*; a fraction would never verify.
      throw new RangeError(`webhook timestamp must be integer seconds, got ${timestampSec}`);
    }
    const prefix = `${id}.${timestampSec}.`;
    // A Buffer body is signed as bytes, exactly as sent, with no round trip through a string.
    const bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    let message: Buffer | undefined;
    const parts: string[] = [];
    for (const entry of entries) {
      if (entry.kind === 'hmac') {
        const mac = createHmac('sha256', entry.key).update(prefix, 'utf8').update(bodyBytes).digest('base64');
        parts.push(`v1,${mac}`);
      } else {
        message ??= Buffer.concat([Buffer.from(prefix, 'utf8'), bodyBytes]);
        // ed25519 hashes internally (RFC 8032), hence the null algorithm.
        parts.push(`v1a,${cryptoSign(null, message, entry.privateKey).toString('base64')}`);
      }
    }
    return parts.join(' ');
  };
}

/** A fresh secret. For ed25519 the `publicKey` (whpk_…) is what receivers are given. */
export function generateSecret(kind: 'hmac' | 'ed25519'): { secret: string; publicKey?: string } {
  if (kind === 'hmac') {
    return { secret: HMAC_PREFIX + randomBytes(GENERATED_HMAC_BYTES).toString('base64') };
  }
  if (kind !== 'ed25519') throw new TypeError(`unknown secret kind: ${String(kind)}`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  return {
    secret: ED25519_PREFIX + Buffer.concat([seed, pub]).toString('base64'),
    publicKey: PUBLIC_PREFIX + pub.toString('base64'),
  };
}

/** The `whpk_…` a receiver needs for a whsk_ secret; undefined for whsec_ (nothing public). Throws if invalid. */
export function publicKeyOf(secret: string): string | undefined {
  const parsed = parseSecret(secret);
  return parsed.kind === 'ed25519' ? parsed.publicKey : undefined;
}

/**
 * The three Standard Webhooks headers for one attempt. The signature header is left out when
 * there is nothing to sign with, rather than sent empty.
 */
export function webhookHeaders(
  signer: Signer,
  id: string,
  timestampSec: number,
  body: string | Buffer,
): Record<string, string> {
  const headers: Record<string, string> = {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
  };
  const signature = signer(id, timestampSec, body);
  if (signature !== '') headers['webhook-signature'] = signature;
  return headers;
}
