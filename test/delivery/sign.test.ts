import { createPublicKey, verify } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { EdgehookError, ErrorCodes } from '../../src/errors.js';
import {
  createSigner,
  generateSecret,
  parseSecret,
  publicKeyOf,
  webhookHeaders,
} from '../../src/delivery/sign.js';

// Vectors from /work/shared/signature-vectors.md (Standard Webhooks).
const V1 = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const V2 = {
  secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD',
  id: 'msg_27UH4WbU6Z5A5EzD8u03UvzRbpk',
  timestamp: 1649367553,
  body: '{"email":"test@example.com","username":"test_user"}',
  signature: 'v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=',
};
const V1A = {
  secret: 'whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==',
  publicKey: 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=',
  signature: 'v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==',
};

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** What a receiver holding only the whpk_ string does (Standard Webhooks v1a). */
function verifyV1a(publicKey: string, id: string, ts: number, body: string, entry: string): boolean {
  const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
  const sig = Buffer.from(entry.slice('v1a,'.length), 'base64');
  return verify(null, Buffer.from(`${id}.${ts}.${body}`), key, sig);
}

const nowSec = () => Math.floor(Date.now() / 1000);

describe('official vectors', () => {
  it.each([
    ['v1 #1', V1],
    ['v1 #2', V2],
  ])('%s', (_name, v) => {
    expect(createSigner([v.secret])(v.id, v.timestamp, v.body)).toBe(v.signature);
  });

  it('v1 #1 with the body as a Buffer', () => {
    expect(createSigner([V1.secret])(V1.id, V1.timestamp, Buffer.from(V1.body))).toBe(V1.signature);
  });

  it('v1a (ed25519) over vector 1 message', () => {
    const entry = createSigner([V1A.secret])(V1.id, V1.timestamp, V1.body);
    expect(entry).toBe(V1A.signature);
    expect(verifyV1a(V1A.publicKey, V1.id, V1.timestamp, V1.body, entry)).toBe(true);
    expect(verifyV1a(V1A.publicKey, V1.id, V1.timestamp + 1, V1.body, entry)).toBe(false);
  });
});

describe('parseSecret', () => {
  it('decodes whsec_ to the raw HMAC key', () => {
    const parsed = parseSecret(V1.secret);
    expect(parsed.kind).toBe('hmac');
    if (parsed.kind === 'hmac')
      expect(parsed.key.toString('base64')).toBe('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  });

  it('derives the whpk_ of a whsk_ secret', () => {
    const parsed = parseSecret(V1A.secret);
    expect(parsed.kind).toBe('ed25519');
    if (parsed.kind === 'ed25519') expect(parsed.publicKey).toBe(V1A.publicKey);
    expect(publicKeyOf(V1A.secret)).toBe(V1A.publicKey);
    expect(publicKeyOf(V1.secret)).toBeUndefined();
  });

  // A whsk_ whose last byte of the embedded public key is changed.
  const tamperedWhsk = (() => {
    const raw = Buffer.from(V1A.secret.slice(5), 'base64');
    raw[63] = raw[63]! ^ 1;
    return `whsk_${raw.toString('base64')}`;
  })();

  it.each([
    ['empty', ''],
    ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['unknown prefix', 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4='],
    ['empty whsec_', 'whsec_'],
    ['not base64', 'whsec_Secret!With*Symbols%'],
    ['url-safe alphabet', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_'],
    ['whitespace', 'whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw'],
    ['truncated base64', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS'],
    ['whsk_ too short', 'whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['whsk_ public key not matching the seed', tamperedWhsk],
  ])('rejects %s with SECRET_INVALID, without echoing it', (_name, secret) => {
    let caught: unknown;
    try {
      parseSecret(secret);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EdgehookError);
    const err = caught as EdgehookError;
    expect(err.code).toBe(ErrorCodes.SECRET_INVALID);
    // The key material (the part after the prefix) must not appear; the prefix alone may.
    const keyMaterial = secret.replace(/^wh[a-z]+_/, '');
    if (keyMaterial.length > 0) expect(err.message).not.toContain(keyMaterial);
  });

  it('createSigner names the position of a bad secret in a rotation list, not its text', () => {
    const bad = 'whsec_not*base64*at*all';
    expect(() => createSigner([V1.secret, bad])).toThrowError(/secret #2/);
    expect(() => createSigner([V1.secret, bad])).toThrowError(
      expect.objectContaining({ code: ErrorCodes.SECRET_INVALID }),
    );
    try {
      createSigner([V1.secret, bad]);
    } catch (err) {
      expect((err as Error).message).not.toContain('not*base64');
    }
  });
});

describe('createSigner', () => {
  it('signs with every secret, space-separated, in configuration order', () => {
    const sig = createSigner([V1.secret, V1A.secret, V2.secret])(V1.id, V1.timestamp, V1.body);
    const entries = sig.split(' ');
    expect(entries).toHaveLength(3);
    expect(entries[0]).toBe(V1.signature);
    expect(entries[1]).toBe(V1A.signature);
    expect(entries[2]).toBe(createSigner([V2.secret])(V1.id, V1.timestamp, V1.body));
    expect(entries[2]).toMatch(/^v1,/);
  });

  it('returns an empty string without secrets', () => {
    expect(createSigner([])('evt_1', 1, '{}')).toBe('');
  });

  it('refuses a non-integer timestamp (milliseconds-as-fraction mistakes never verify)', () => {
    expect(() => createSigner([V1.secret])('evt_1', 1614265330.5, '{}')).toThrow(RangeError);
  });

  it('is verified unchanged by the standardwebhooks package, also during rotation', () => {
    const body = JSON.stringify({
      id: 'evt_abc',
      type: 'sensor.temperature',
      data: { c: 21.5, note: 'küche' },
    });
    const headers = webhookHeaders(createSigner([V1A.secret, V2.secret]), 'evt_abc', nowSec(), body);
    expect(new Webhook(V2.secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(V1.secret).verify(body, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(V2.secret).verify(`${body} `, headers)).toThrow(/No matching signature/);
  });
});

describe('webhookHeaders', () => {
  it('gives the three webhook-* headers', () => {
    const h = webhookHeaders(createSigner([V1.secret]), V1.id, V1.timestamp, V1.body);
    expect(h).toEqual({
      'webhook-id': V1.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': V1.signature,
    });
  });

  it('omits webhook-signature for an unsigned endpoint', () => {
    const h = webhookHeaders(createSigner([]), 'evt_1', 1700000000, '{}');
    expect(h).toEqual({ 'webhook-id': 'evt_1', 'webhook-timestamp': '1700000000' });
  });
});

describe('generateSecret', () => {
  it('hmac: 32 random bytes that standardwebhooks verifies', () => {
    const { secret, publicKey } = generateSecret('hmac');
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(publicKey).toBeUndefined();
    expect(generateSecret('hmac').secret).not.toBe(secret);
    const body = '{"hello":"world"}';
    const headers = webhookHeaders(createSigner([secret]), 'evt_gen', nowSec(), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual({ hello: 'world' });
  });

  it('ed25519: whsk_ signs, its whpk_ verifies', () => {
    const { secret, publicKey } = generateSecret('ed25519');
    expect(secret).toMatch(/^whsk_[A-Za-z0-9+/]{86}==$/);
    expect(publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    expect(publicKeyOf(secret)).toBe(publicKey);
    const entry = createSigner([secret])('evt_gen', 1700000000, '{"a":1}');
    expect(entry).toMatch(/^v1a,/);
    expect(verifyV1a(publicKey!, 'evt_gen', 1700000000, '{"a":1}', entry)).toBe(true);
    expect(verifyV1a(V1A.publicKey, 'evt_gen', 1700000000, '{"a":1}', entry)).toBe(false);
  });
});
