import { describe, expect, it } from 'vitest';
import { batchBody } from '../../src/delivery/batch.js';
import { cloudEventOf, renderBody, topLevelFields } from '../../src/delivery/payload-format.js';
import type { PendingDelivery } from '../../src/outbox/outbox-store.js';
import { schemaProblems } from '../helpers/payload-schemas.js';

/** Rendering a stored edgehook/1 body in each format (README "Payload formats and versioning"). */

const AGENT = JSON.stringify('gw-01');

function stored(seq: number, data: string, extra = ''): PendingDelivery {
  const id = `evt_test${seq}`;
  const body =
    `{"id":"${id}","type":"sensor.t","timestamp":"2026-11-24T08:00:0${seq}.123Z","agent":"gw-01",` +
    `"seq":${seq},"topic":"sensors/kitchen/t","data":${data}${extra}}`;
  return {
    seq,
    id,
    type: 'sensor.t',
    receivedAt: Date.parse('2026-11-24T08:00:00.123Z') + seq * 1000,
    body,
    attempts: 0,
    messageFailures: 0,
    nextAttemptAt: 0,
  };
}

// A payload whose exact text matters: a number past 2^53, spacing, and braces inside a string.
const EXACT = '{"n": 12345678901234567890, "s": "}\\"{ ]", "a": [1, {"b": null}]}';

describe('edgehook/1', () => {
  it('sends the stored body unchanged, as application/json', () => {
    const d = stored(1, EXACT);
    expect(renderBody('edgehook/1', [d], AGENT)).toEqual({
      id: d.id,
      body: d.body,
      contentType: 'application/json',
    });
    expect(schemaProblems('edgehook/1', d.body)).toEqual([]);
  });

  it('sends a batch in the batch envelope, unchanged', () => {
    const group = [stored(1, '{"i":1}'), stored(2, '{"i":2}')];
    const r = renderBody('edgehook/1', group, AGENT);
    expect(r).toEqual({ ...batchBody(group, AGENT), contentType: 'application/json' });
    expect(schemaProblems('edgehook/1', r.body)).toEqual([]);
  });
});

describe('cloudevents/1.0', () => {
  it('maps the envelope to CloudEvents attributes and splices data in byte for byte', () => {
    const d = stored(3, EXACT);
    const r = renderBody('cloudevents/1.0', [d], AGENT);
    expect(r.id).toBe(d.id);
    expect(r.contentType).toBe('application/cloudevents+json');
    expect(JSON.parse(r.body)).toEqual({
      specversion: '1.0',
      id: d.id,
      source: 'edgehook://gw-01',
      type: 'sensor.t',
      subject: 'sensors/kitchen/t',
      time: '2026-11-24T08:00:03.123Z',
      datacontenttype: 'application/json',
      seq: 3,
      data: JSON.parse(EXACT),
    });
    // The payload's text reaches the receiver as the device sent it (no float rounding).
    expect(r.body).toContain(`"data":${EXACT}}`);
    expect(schemaProblems('cloudevents/1.0', r.body)).toEqual([]);
  });

  it('sends a binary payload as data_base64 with application/octet-stream', () => {
    const b64 = Buffer.from([0, 255, 1]).toString('base64');
    const body = cloudEventOf(stored(4, JSON.stringify(b64), ',"encoding":"base64"').body);
    const ev = JSON.parse(body);
    expect(ev.datacontenttype).toBe('application/octet-stream');
    expect(ev.data_base64).toBe(b64);
    expect(ev).not.toHaveProperty('data');
    expect(ev).not.toHaveProperty('encoding');
    expect(schemaProblems('cloudevents/1.0', body)).toEqual([]);
  });

  it('escapes an agent id that is not URI-safe in source', () => {
    const d = stored(5, 'null');
    const body = cloudEventOf(d.body.replace('"agent":"gw-01"', '"agent":"hall 2/east"'));
    expect(JSON.parse(body).source).toBe('edgehook://hall%202%2Feast');
    expect(schemaProblems('cloudevents/1.0', body)).toEqual([]);
  });

  it('sends a batch as a JSON array, application/cloudevents-batch+json, under the batch id', () => {
    const group = [stored(1, '{"i":1}'), stored(2, '"text"')];
    const r = renderBody('cloudevents/1.0', group, AGENT);
    expect(r.contentType).toBe('application/cloudevents-batch+json');
    // The same events have the same webhook-id in either format.
    expect(r.id).toBe(batchBody(group, AGENT).id);
    const events = JSON.parse(r.body) as { id: string; data: unknown }[];
    expect(events.map((e) => e.id)).toEqual(group.map((d) => d.id));
    expect(events.map((e) => e.data)).toEqual([{ i: 1 }, 'text']);
    expect(schemaProblems('cloudevents/1.0', r.body)).toEqual([]);
  });

  it('renders the same bytes every time (a retry or a restart sends the same body)', () => {
    const d = stored(6, EXACT);
    expect(renderBody('cloudevents/1.0', [d], AGENT)).toEqual(renderBody('cloudevents/1.0', [d], AGENT));
  });
});

describe('topLevelFields', () => {
  it('returns each member as its raw text, whatever strings and nesting hold', () => {
    const f = topLevelFields(`{ "a" : "x,}\\"" , "data" : ${EXACT} ,"z":-1.5e3,"t":true}`);
    expect([...f.entries()]).toEqual([
      ['a', '"x,}\\""'],
      ['data', EXACT],
      ['z', '-1.5e3'],
      ['t', 'true'],
    ]);
  });
});

describe('the shipped schemas', () => {
  it('reject bodies that break their format', () => {
    const ok = stored(7, '{"i":1}');
    const ce = JSON.parse(cloudEventOf(ok.body)) as Record<string, unknown>;
    const bad: [string, string, Record<string, unknown>][] = [
      ['edgehook/1', 'seq', { ...JSON.parse(ok.body), seq: '7' }],
      ['edgehook/1', 'id', { ...JSON.parse(ok.body), id: 'evt_a.b' }],
      ['edgehook/1', 'timestamp', { ...JSON.parse(ok.body), timestamp: 'yesterday' }],
      ['cloudevents/1.0', 'specversion', { ...ce, specversion: '0.3' }],
      ['cloudevents/1.0', 'seq', { ...ce, seq: undefined }],
      ['cloudevents/1.0', 'dataContentType', { ...ce, dataContentType: 'x' }],
      ['cloudevents/1.0', 'data_base64', { ...ce, data_base64: 'AA==' }],
    ];
    for (const [format, what, body] of bad)
      expect(schemaProblems(format, JSON.stringify(body)), `${format} ${what}`).not.toEqual([]);
    expect(schemaProblems(undefined, ok.body)).toEqual([
      'webhook-format undefined is not one of edgehook/1, cloudevents/1.0',
    ]);
  });
});
