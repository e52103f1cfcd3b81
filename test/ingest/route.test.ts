import { describe, expect, it } from 'vitest';
import {
  MAX_JSON_DEPTH,
  matchTopic,
  parsePayload,
  renderType,
  Router,
  stripShare,
} from '../../src/ingest/route.js';
import type { SubscriptionConfig } from '../../src/config/schema.js';

const sub = (
  topic: string,
  type?: string,
  payload: SubscriptionConfig['payload'] = 'json',
): SubscriptionConfig => ({
  topic,
  qos: 1,
  payload,
  ...(type === undefined ? {} : { type }),
});

describe('matchTopic', () => {
  it.each([
    // filter, topic, captured levels (undefined: no match)
    ['sensors/+/temperature', 'sensors/kitchen/temperature', ['kitchen']],
    ['sensors/+/temperature', 'sensors/kitchen/humidity', undefined],
    ['sensors/+/temperature', 'sensors/a/b/temperature', undefined],
    ['sensors/+/temperature', 'sensors/temperature', undefined],
    ['sensors/+/+', 'sensors/kitchen/temperature', ['kitchen', 'temperature']],
    ['+/+', '/x', ['', 'x']],
    ['a/+', 'a/', ['']],
    ['a/b', 'a/b', []],
    ['a/b', 'a/b/c', undefined],
    ['a/b/c', 'a/b', undefined],
    ['A/b', 'a/b', undefined],
    // '#' captures the rest of the topic, levels joined with "." so "log.{1}" reads well.
    ['logs/#', 'logs/boot/stage', ['boot.stage']],
    ['logs/#', 'logs/boot', ['boot']],
    // MQTT 3.1.1 §4.7.1.2: "sport/#" also matches "sport".
    ['logs/#', 'logs', ['']],
    ['logs/#', 'logsx/boot', undefined],
    ['+/devices/#', 'site1/devices/pump/7/state', ['site1', 'pump.7.state']],
    ['#', 'a/b/c', ['a.b.c']],
    // MQTT 3.1.1 §4.7.2: a wildcard at the first level does not match a "$" topic.
    ['#', '$SYS/broker/uptime', undefined],
    ['+/broker/uptime', '$SYS/broker/uptime', undefined],
    ['$SYS/#', '$SYS/broker/uptime', ['broker.uptime']],
    ['$SYS/broker/+', '$SYS/broker/uptime', ['uptime']],
  ] as const)('%s ~ %s', (filter, topic, expected) => {
    expect(matchTopic(filter.split('/'), topic)).toEqual(expected);
  });
});

describe('stripShare', () => {
  it.each([
    ['$share/group/sensors/+/temperature', 'sensors/+/temperature'],
    ['$share/g/#', '#'],
    ['sensors/#', 'sensors/#'],
    ['$SYS/#', '$SYS/#'],
    ['share/g/a', 'share/g/a'],
  ])('%s → %s', (filter, expected) => expect(stripShare(filter)).toBe(expected));
});

describe('renderType', () => {
  it.each([
    ['sensor.{1}.temperature', 'sensors/kitchen/temperature', ['kitchen'], 'sensor.kitchen.temperature'],
    ['{2}.{1}', 'x/a/b', ['a', 'b'], 'b.a'],
    ['site.{1}.{2}', 'site1/devices/pump/7', ['site1', 'pump.7'], 'site.site1.pump.7'],
    ['fixed.type', 'any/topic', ['ignored'], 'fixed.type'],
    ['{1}{1}', 'a', ['x'], 'xx'],
    // No template: the topic, "/" as "."; empty levels do not make empty type segments.
    [undefined, 'sensors/kitchen/temperature', [], 'sensors.kitchen.temperature'],
    [undefined, '/leading/and//double/', [], 'leading.and.double'],
    [undefined, '/', [], 'mqtt.message'],
  ] as const)('%s with %s', (template, topic, captured, expected) => {
    expect(renderType(template, topic, captured)).toBe(expected);
  });
});

describe('Router', () => {
  const router = new Router([
    sub('$share/workers/sensors/+/temperature', 'sensor.{1}.temperature'),
    sub('logs/#', 'log.{1}', 'text'),
    sub('raw/+', 'raw', 'binary'),
    sub('sensors/#'),
    sub('#', 'other'),
  ]);

  it('routes by the first matching subscription, with its $share prefix stripped', () => {
    expect(router.route('sensors/kitchen/temperature', Buffer.from('{"c":21}'))).toEqual({
      type: 'sensor.kitchen.temperature',
      subscription: 0,
      data: { kind: 'json', json: '{"c":21}' },
    });
    expect(router.route('sensors/kitchen/humidity', Buffer.from('55'))).toEqual({
      type: 'sensors.kitchen.humidity',
      subscription: 3,
      data: { kind: 'json', json: '55' },
    });
    expect(router.route('logs/boot/stage', Buffer.from('hello ✓'))).toEqual({
      type: 'log.boot.stage',
      subscription: 1,
      data: { kind: 'text', text: 'hello ✓' },
    });
    expect(router.route('raw/blob', Buffer.from([0, 255]))).toEqual({
      type: 'raw',
      subscription: 2,
      data: { kind: 'binary' },
    });
    expect(router.route('misc', Buffer.from('true'))).toMatchObject({ type: 'other' });
  });

  it('does not let "#" take $SYS topics', () => {
    expect(router.route('$SYS/broker/load', Buffer.from('1'))).toBeUndefined();
    expect(new Router([sub('$share/g/#')]).route('$SYS/x', Buffer.from('1'))).toBeUndefined();
  });

  it('keeps a payload that fails its declared format as rejected, with a reason', () => {
    const r = router.route('sensors/a/temperature', Buffer.from('twenty'));
    expect(r).toMatchObject({
      type: 'sensor.a.temperature',
      rejected: expect.stringMatching(/^payload is not JSON/),
    });
  });
});

describe('parsePayload', () => {
  const bad = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]); // {"\xc3(" }: invalid UTF-8 inside JSON

  it.each([
    ['json', '{"a":1}', { kind: 'json', json: '{"a":1}' }],
    ['json', ' \n[1, 2.50]\t', { kind: 'json', json: '[1, 2.50]' }],
    ['json', '"just a string"', { kind: 'json', json: '"just a string"' }],
    ['json', 'null', { kind: 'json', json: 'null' }],
    ['text', 'hello ✓', { kind: 'text', text: 'hello ✓' }],
    ['text', '', { kind: 'text', text: '' }],
    ['text', 'nul\u0000inside', { kind: 'text', text: 'nul\u0000inside' }],
    ['binary', '', { kind: 'binary' }],
  ] as const)('%s accepts %j', (kind, payload, data) => {
    expect(parsePayload(kind, Buffer.from(payload))).toEqual({ data });
  });

  it.each([
    ['json', Buffer.from(''), /empty/],
    ['json', Buffer.from('   \n'), /empty/],
    ['json', Buffer.from('twenty degrees'), /^payload is not JSON/],
    ['json', Buffer.from('{"a":1'), /^payload is not JSON/],
    ['json', Buffer.from('{"a":1} trailing'), /^payload is not JSON/],
    ['json', Buffer.from('\uFEFF{"a":1}'), /^payload is not JSON/],
    ['json', Buffer.from("{'a':1}"), /^payload is not JSON/],
    ['json', Buffer.from('NaN'), /^payload is not JSON/],
    ['json', bad, /not valid UTF-8 \(subscription declares json\)/],
    ['text', bad, /not valid UTF-8 \(subscription declares text\)/],
    // Overlong encoding of "/" and a UTF-16 surrogate encoded in UTF-8 are not UTF-8 either.
    ['text', Buffer.from([0xc0, 0xaf]), /not valid UTF-8/],
    ['text', Buffer.from([0xed, 0xa0, 0x80]), /not valid UTF-8/],
  ] as const)('%s rejects %s', (kind, payload, reason) => {
    const r = parsePayload(kind, payload);
    expect(r.rejected).toMatch(reason);
    // The raw payload is what is kept for a rejected event (base64), never a lossy decoding.
    expect(r.data).toEqual({ kind: 'binary' });
  });

  it('accepts binary whatever the bytes', () => {
    expect(parsePayload('binary', bad)).toEqual({ data: { kind: 'binary' } });
  });

  it.each([
    ['100k unclosed "["', '['.repeat(100_000)],
    ['100k balanced "[…]"', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['100k nested objects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    [`${MAX_JSON_DEPTH + 1} levels`, '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)],
  ])('rejects deep nesting (%s) without crashing', (_name, text) => {
    const r = parsePayload('json', Buffer.from(text));
    expect(r.rejected).toMatch(/nested|not JSON/);
    expect(r.data).toEqual({ kind: 'binary' });
  });

  it('accepts nesting up to the limit, and brackets inside strings do not count', () => {
    const atLimit = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    expect(parsePayload('json', Buffer.from(atLimit)).rejected).toBeUndefined();
    const inString = JSON.stringify({ s: `${'['.repeat(10_000)}\\"{{{` });
    expect(parsePayload('json', Buffer.from(inString))).toEqual({ data: { kind: 'json', json: inString } });
  });
});
