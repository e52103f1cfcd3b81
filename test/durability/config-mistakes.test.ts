import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, STACK_FRAME, tempDirIn, Cleanup } from './support/rig.js';

/**
 * README "Guarantees" 5: an invalid config fails at start with every problem listed by path.
 * Config mistakes a person makes, each through `edgehook check` as a user runs it: exit 2,
 * the file named, the problem's path named, no stack trace. These extend the loader's own
 * cases in test/config/load.test.ts (which checks the exact wording in-process) with other
 * mistakes, end to end.
 */

const cleanup = new Cleanup();
let dir: string;
beforeAll(() => {
  dir = tempDirIn(cleanup, 'edgehook-dur-config-');
});
afterAll(() => cleanup.run());

const EP = 'endpoints:\n  - url: https://ingest.example.com/hooks\n';
const endpoint = (extra: string) => `${EP}${extra}`;

/** [what the person got wrong, the file, the path the error must name] */
const MISTAKES: [string, string, string][] = [
  ['agentId with spaces', 'agentId: my gateway\n', 'agentId'],
  ['dataDir given as a number', 'dataDir: 42\n', 'dataDir'],
  ['broker URL with an http scheme', 'mqtt:\n  url: http://broker.lan:1883\n', 'mqtt.url'],
  [
    'MQTT protocol version 3',
    'mqtt:\n  url: mqtt://broker.lan\n  protocolVersion: 3\n',
    'mqtt.protocolVersion',
  ],
  ['empty client id', 'mqtt:\n  clientId: ""\n', 'mqtt.clientId'],
  [
    'session expiry under a minute',
    'mqtt:\n  url: mqtt://broker.lan\n  protocolVersion: 5\n  sessionExpirySeconds: 10\n',
    'mqtt.sessionExpirySeconds',
  ],
  ['keepalive beyond 65535', 'mqtt:\n  keepaliveSeconds: 70000\n', 'mqtt.keepaliveSeconds'],
  [
    'rejectUnauthorized as a word',
    'mqtt:\n  url: mqtts://broker.lan\n  tls: { rejectUnauthorized: "no" }\n',
    'mqtt.tls.rejectUnauthorized',
  ],
  [
    'broker TLS key without its certificate',
    'mqtt:\n  url: mqtts://broker.lan\n  tls: { key: ./client.key }\n',
    'mqtt.tls.cert',
  ],
  ['embedded host given as a number', 'mqtt:\n  embedded: { host: 5 }\n', 'mqtt.embedded.host'],
  ['empty topic filter', 'subscriptions:\n  - topic: ""\n', 'subscriptions[0].topic'],
  [
    'shared subscription without a filter',
    'subscriptions:\n  - topic: $share/group\n',
    'subscriptions[0].topic',
  ],
  ['empty event type', 'subscriptions:\n  - topic: a/b\n    type: ""\n', 'subscriptions[0].type'],
  [
    'QoS written as a string',
    'subscriptions:\n  - topic: a/b\n  - topic: c/d\n    qos: "1"\n',
    'subscriptions[1].qos',
  ],
  ['misspelt subscription key', 'subscriptions:\n  - topc: a/b\n', 'subscriptions[0].topc'],
  ['subscriptions as a mapping', 'subscriptions:\n  topic: a/b\n', 'subscriptions'],
  ['endpoint id with a slash', endpoint('    id: cloud/eu\n'), 'endpoints[0].id'],
  ['unknown ordering', endpoint('    ordering: fifo\n'), 'endpoints[0].ordering'],
  ['timeout of 50 ms', endpoint('    timeoutMs: 50\n'), 'endpoints[0].timeoutMs'],
  ['batch of zero events', endpoint('    batch: { maxEvents: 0 }\n'), 'endpoints[0].batch.maxEvents'],
  [
    'batch size that is not a size',
    endpoint('    batch: { maxEvents: 10, maxBytes: lots }\n'),
    'endpoints[0].batch.maxBytes',
  ],
  ['unknown compression', endpoint('    compress: brotli\n'), 'endpoints[0].compress'],
  ['empty retry schedule', endpoint('    retry: { schedule: [] }\n'), 'endpoints[0].retry.schedule'],
  [
    'negative step in the retry schedule',
    endpoint('    retry: { schedule: [5, -1, 30] }\n'),
    'endpoints[0].retry.schedule[1]',
  ],
  ['maxAgeHours of zero', endpoint('    retry: { maxAgeHours: 0 }\n'), 'endpoints[0].retry.maxAgeHours'],
  [
    'backoff cap with a unit',
    endpoint('    retry: { backoffMaxSeconds: 30s }\n'),
    'endpoints[0].retry.backoffMaxSeconds',
  ],
  ['enabled as a sentence', endpoint('    enabled: yes please\n'), 'endpoints[0].enabled'],
  ['an empty type pattern in a list', endpoint('    types: ["sensor.*", ""]\n'), 'endpoints[0].types[1]'],
  ['an empty secret rotation list', endpoint('    secret: []\n'), 'endpoints[0].secret'],
  ['second endpoint without a url', `${EP}  - id: backup\n`, 'endpoints[1].url'],
  [
    'unset variable in a secret rotation list',
    endpoint('    secret: [whsec_YWJj, "${NEXT_SECRET}"]\n'),
    'endpoints[0].secret[1]',
  ],
  ['outbox limit under 4 KiB', 'storage:\n  maxBytes: 1KiB\n', 'storage.maxBytes'],
  ['negative keepDeliveredHours', 'storage:\n  keepDeliveredHours: -1\n', 'storage.keepDeliveredHours'],
  ['allowedHosts as one string', 'admin:\n  allowedHosts: gateway.local\n', 'admin.allowedHosts'],
  ['admin enabled quoted', 'admin:\n  enabled: "off"\n', 'admin.enabled'],
  ['tab indentation', 'mqtt:\n\turl: embedded\n', 'line 2'],
];

describe('config mistakes through `edgehook check`: exit 2, the problem named by path', () => {
  it('has at least 30 distinct mistakes', () => {
    expect(new Set(MISTAKES.map(([, text]) => text)).size).toBe(MISTAKES.length);
    expect(MISTAKES.length).toBeGreaterThanOrEqual(30);
  });

  it.concurrent.each(MISTAKES)('%s', async (name, text, path) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, text);
    const r = await cli(['check', '--config', file], dir, 60_000);
    expect(r.code, r.stderr + r.stdout).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toContain(file);
    // The path starts a line of its own: "  endpoints[0].retry.schedule[1]: must be …"
    const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.stderr).toMatch(new RegExp(`^\\s*(${escaped}:|.*${escaped}, column)`, 'm'));
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('one file with many mistakes lists every one of them, by path', async () => {
    const file = join(dir, 'many.yaml');
    writeFileSync(
      file,
      [
        'agentId: my gateway',
        'mqtt:',
        '  keepaliveSeconds: 70000',
        'subscriptions:',
        '  - topc: a/b',
        'endpoints:',
        '  - url: https://ingest.example.com/hooks',
        '    ordering: fifo',
        '    retry: { schedule: [5, -1], attempts: 5 }',
        '  - id: backup',
        'storage:',
        '  maxBytes: 1KiB',
        'admin:',
        '  allowedHosts: gateway.local',
        '',
      ].join('\n'),
    );
    const r = await cli(['check', '--config', file], dir);
    expect(r.code).toBe(2);
    const paths = [
      'agentId',
      'mqtt.keepaliveSeconds',
      'subscriptions[0].topc',
      'endpoints[0].ordering',
      'endpoints[0].retry.schedule[1]',
      'endpoints[0].retry.attempts',
      'endpoints[1].url',
      'storage.maxBytes',
      'admin.allowedHosts',
    ];
    for (const p of paths) expect(r.stderr).toContain(`${p}:`);
    const count = Number(/(\d+) problems/.exec(r.stderr.split('\n')[0]!)?.[1]);
    expect(count).toBeGreaterThanOrEqual(paths.length);
  });
});
