import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEdgehookError, ErrorCodes, type EdgehookError } from '../../src/errors.js';
import { deepFreeze, loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { DEFAULT_RETRY_SCHEDULE } from '../../src/config/schema.js';
import { STARTER_CONFIG, writeStarterConfig } from '../../src/config/starter.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-config-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Loads `text` from a real file and returns the thrown EdgehookError; fails if it loads. */
function rejection(text: string, env: NodeJS.ProcessEnv = {}): EdgehookError {
  const file = write('edgehook.yaml', text);
  try {
    loadConfigFile(file, { env });
  } catch (err) {
    if (isEdgehookError(err, ErrorCodes.CONFIG_INVALID)) return err;
    throw err;
  }
  throw new Error(`expected the config to be rejected:\n${text}`);
}

describe('loadConfigFile: valid configs', () => {
  it('an empty file means all defaults, relative to the config file', () => {
    const cfg = loadConfigFile(write('edgehook.yaml', ''), { env: {} });
    expect(cfg.dataDir).toBe(path.join(dir, 'edgehook-data'));
    expect(cfg.mqtt.url).toBe('embedded');
    expect(cfg.mqtt.embedded).toEqual({ host: '127.0.0.1', port: 1883 });
    expect(cfg.mqtt.protocolVersion).toBe(4);
    expect(cfg.mqtt.clientId).toBe(`edgehook-${cfg.agentId}`);
    expect(cfg.subscriptions).toEqual([{ topic: '#', qos: 1, payload: 'json' }]);
    expect(cfg.endpoints).toEqual([]);
    expect(cfg.storage).toEqual({
      maxBytes: 512 * 1024 ** 2,
      whenFull: 'drop-oldest',
      keepDeliveredHours: 24,
      reserveBytes: 8 * 1024 ** 2,
      minFreeBytes: 4 * 1024 ** 2,
    });
    expect(cfg.admin.port).toBe(8787);
    expect(cfg.admin.token).toBeUndefined();
  });

  it('a file with only comments, or sections left empty, also means defaults', () => {
    const fromComments = loadConfigFile(write('a.yaml', '# nothing yet\n\n#   agentId: x\n'), { env: {} });
    const fromEmptySections = loadConfigFile(write('b.yaml', 'mqtt:\nstorage:\nadmin:\n  token:\n'), {
      env: {},
    });
    expect(fromEmptySections).toEqual({ ...fromComments, dataDir: fromEmptySections.dataDir });
    expect(fromComments.storage.whenFull).toBe('drop-oldest');
  });

  it('no file at all means defaults relative to the working directory', () => {
    const cfg = loadConfigFile(undefined, { env: {} });
    expect(cfg.dataDir).toBe(path.resolve('edgehook-data'));
    expect(cfg.endpoints).toEqual([]);
  });

  it('substitutes ${VAR} and ${VAR:-default} in every string, not in comments', () => {
    const file = write(
      'edgehook.yaml',
      [
        '# ${NOT_SET_AND_FINE} in a comment is left alone',
        'mqtt:',
        '  url: mqtt://${BROKER_HOST}:1883',
        '  password: ${MQTT_PASSWORD:-guest}',
        '  username: ${MQTT_USER:-sensors}',
        'endpoints:',
        '  - url: https://${CLOUD_HOST:-ingest.example.com}/hooks',
        '    secret: ["${SECRET_A}", "${SECRET_B:-whsec_Zm9vYmFy}"]',
        '    headers: { Authorization: "Bearer ${CLOUD_TOKEN}", X-Literal: "$${NOT_A_VAR}" }',
      ].join('\n'),
    );
    const cfg = loadConfigFile(file, {
      env: { BROKER_HOST: 'broker.lan', MQTT_USER: '', CLOUD_TOKEN: 't0k', SECRET_A: 'whsec_YWJj' },
    });
    expect(cfg.mqtt.url).toBe('mqtt://broker.lan:1883');
    expect(cfg.mqtt.password).toBe('guest');
    expect(cfg.mqtt.username).toBe('sensors'); // ":-" also covers a set-but-empty variable
    expect(cfg.endpoints[0]?.url).toBe('https://ingest.example.com/hooks');
    expect(cfg.endpoints[0]?.secrets).toEqual(['whsec_YWJj', 'whsec_Zm9vYmFy']);
    expect(cfg.endpoints[0]?.headers).toEqual({ Authorization: 'Bearer t0k', 'X-Literal': '${NOT_A_VAR}' });
  });

  it('a whole plain ${VAR} takes the type it would have had if written there; quoted stays a string', () => {
    const file = write(
      'edgehook.yaml',
      'admin:\n  port: ${ADMIN_PORT:-9999}\n  enabled: ${ADMIN_ON}\n  token: ${EDGEHOOK_ADMIN_TOKEN:-}\n',
    );
    const cfg = loadConfigFile(file, { env: { ADMIN_ON: 'false' } });
    expect(cfg.admin.port).toBe(9999);
    expect(cfg.admin.enabled).toBe(false);
    expect(cfg.admin.token).toBeUndefined(); // empty means "not given", like `token:`
    const err = rejection('admin:\n  port: "${ADMIN_PORT}"\n', { ADMIN_PORT: '9999' });
    expect(err.details).toContain('admin.port: expected a number, got a string');
  });

  it('resolves a relative dataDir and TLS files against the config file directory', () => {
    const file = write(
      'etc/edgehook/edgehook.yaml',
      [
        'dataDir: ../../var/edgehook',
        'mqtt:',
        '  url: mqtts://broker:8883',
        '  tls: { ca: ca.pem, cert: ./client.pem, key: /abs/client.key }',
        'endpoints:',
        '  - url: https://x.example/hooks',
        '    tls: { ca: certs/cloud-ca.pem }',
      ].join('\n'),
    );
    const cfg = loadConfigFile(file, { env: {} });
    expect(cfg.dataDir).toBe(path.join(dir, 'var/edgehook'));
    expect(cfg.mqtt.tls).toEqual({
      ca: path.join(dir, 'etc/edgehook/ca.pem'),
      cert: path.join(dir, 'etc/edgehook/client.pem'),
      key: '/abs/client.key',
      rejectUnauthorized: true,
    });
    expect(cfg.endpoints[0]?.tls?.ca).toBe(path.join(dir, 'etc/edgehook/certs/cloud-ca.pem'));
  });

  it('dataDirOverride (--data-dir) wins over the file and is relative to the working directory', () => {
    const file = write('edgehook.yaml', 'dataDir: ./from-file\n');
    expect(loadConfigFile(file, { env: {}, dataDirOverride: '/srv/edgehook' }).dataDir).toBe('/srv/edgehook');
    expect(loadConfigFile(file, { env: {}, dataDirOverride: 'rel' }).dataDir).toBe(path.resolve('rel'));
  });

  it('returns a deeply frozen config without freezing the schema defaults', () => {
    const cfg = loadConfigFile(write('edgehook.yaml', 'endpoints:\n  - url: http://127.0.0.1:9/x\n'), {
      env: {},
    });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.mqtt.embedded)).toBe(true);
    expect(Object.isFrozen(cfg.endpoints)).toBe(true);
    expect(Object.isFrozen(cfg.endpoints[0]?.retry.schedule)).toBe(true);
    expect(Object.isFrozen(cfg.subscriptions[0])).toBe(true);
    expect(() => {
      (cfg.admin as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(DEFAULT_RETRY_SCHEDULE)).toBe(false);
  });

  it('deepFreeze handles cycles', () => {
    const a: { self?: unknown; list: number[] } = { list: [1] };
    a.self = a;
    expect(deepFreeze(a)).toBe(a);
    expect(Object.isFrozen(a.list)).toBe(true);
  });
});

describe('loadConfigFile: broken configs name every problem by path', () => {
  const endpoint = (extra: string): string => `endpoints:\n  - url: https://x.example/hooks\n${extra}`;
  const cases: Array<[string, string, string, NodeJS.ProcessEnv?]> = [
    ['unknown top-level key', 'agentIdd: gw\n', 'agentIdd: unknown key'],
    ['unknown nested key', 'mqtt:\n  embedded:\n    prot: 1883\n', 'mqtt.embedded.prot: unknown key'],
    ['endpoint without url', 'endpoints:\n  - id: cloud\n', 'endpoints[0].url: is required'],
    ['bad url', 'endpoints:\n  - url: not a url\n', 'endpoints[0].url: not an http:// or https:// URL'],
    [
      'ftp url',
      'endpoints:\n  - url: ftp://files.example/x\n',
      'endpoints[0].url: not an http:// or https:// URL',
    ],
    [
      'bad secret prefix',
      endpoint('    secret: sk_live_abc\n'),
      'endpoints[0].secret: a secret is "whsec_" (HMAC) or "whsk_" (ed25519) followed by base64',
    ],
    [
      'bad secret inside a rotation list',
      endpoint('    secret: [whsec_YWJj, nope]\n'),
      'endpoints[0].secret[1]: a secret is "whsec_" (HMAC) or "whsk_" (ed25519) followed by base64',
    ],
    [
      'secret of the wrong type',
      endpoint('    secret: 5\n'),
      'endpoints[0].secret: expected a string or a list, got a number',
    ],
    [
      'qos 3',
      'subscriptions:\n  - topic: a/b\n    qos: 3\n',
      'subscriptions[0].qos: expected one of 0, 1, 2, got 3',
    ],
    [
      'bad payload kind',
      'subscriptions:\n  - topic: a/b\n    payload: xml\n',
      'subscriptions[0].payload: expected one of "json", "text", "binary", "sparkplug", got "xml"',
    ],
    [
      'topic filter a/#/b',
      'subscriptions:\n  - topic: a/#/b\n',
      'subscriptions[0].topic: topic filter "a/#/b" is not a topic filter: levels separated by "/", "+" for one level, "#" only as the last level',
    ],
    [
      'topic filter a+/b',
      'subscriptions:\n  - topic: a/b\n  - topic: a+/b\n',
      'subscriptions[1].topic: topic filter "a+/b" is not a topic filter: levels separated by "/", "+" for one level, "#" only as the last level',
    ],
    ['negative port', 'mqtt:\n  embedded: { port: -1 }\n', 'mqtt.embedded.port: must be at least 0, got -1'],
    ['port too large', 'admin:\n  port: 70000\n', 'admin.port: must be at most 65535, got 70000'],
    ['port as a string', 'admin:\n  port: "8787"\n', 'admin.port: expected a number, got a string'],
    [
      'fractional timeout',
      endpoint('    timeoutMs: 1500.5\n'),
      'endpoints[0].timeoutMs: expected a whole number, got 1500.5',
    ],
    [
      'bad byte size',
      'storage:\n  maxBytes: 12 parsecs\n',
      'storage.maxBytes: not a size: "12 parsecs" (use e.g. 512MiB, 100MB or a number of bytes)',
    ],
    [
      'bad whenFull',
      'storage:\n  whenFull: sometimes\n',
      'storage.whenFull: expected one of "drop-oldest", "stop-ingest", got "sometimes"',
    ],
    [
      'missing environment variable',
      endpoint('    headers:\n      Authorization: Bearer ${CLOUD_TOKEN}\n'),
      'endpoints[0].headers.Authorization: environment variable CLOUD_TOKEN is not set',
    ],
    [
      'malformed reference',
      'mqtt:\n  password: ${9LIVES}\n',
      'mqtt.password: "${9LIVES}" is not a valid reference: use ${NAME} or ${NAME:-default}',
    ],
    [
      'duplicate endpoint ids',
      'endpoints:\n  - { id: cloud, url: https://a.example/ }\n  - { id: cloud, url: https://b.example/ }\n',
      'endpoints[1].id: duplicate endpoint id "cloud" (also endpoints[0])',
    ],
    [
      'embedded broker with MQTT 5',
      'mqtt:\n  protocolVersion: 5\n',
      'mqtt.protocolVersion: the embedded broker speaks MQTT 3.1.1 only: use protocolVersion 4',
    ],
    [
      'cert without key',
      endpoint('    tls: { cert: ./device.pem }\n'),
      'endpoints[0].tls.key: cert and key go together: give both or neither',
    ],
    ['empty types list', endpoint('    types: []\n'), 'endpoints[0].types: must have at least 1 item'],
    [
      'header value not a string',
      endpoint('    headers: { X-Count: 3 }\n'),
      'endpoints[0].headers.X-Count: expected a string, got a number',
    ],
    ['section given as a list', 'storage: [1, 2]\n', 'storage: expected a mapping (key: value), got a list'],
    [
      'short admin token',
      'admin:\n  token: short\n',
      'admin.token: the admin token must be at least 16 characters',
    ],
    [
      'bad log level',
      'logLevel: loud\n',
      'logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ],
    [
      'YAML syntax error',
      'agentId: gw\nmqtt:\n  url: embedded: yes\n',
      'line 3, column 8: Nested mappings are not allowed in compact mappings',
    ],
    [
      'unclosed flow sequence',
      'agentId: gw\nmqtt:\n  url: [embedded\nstorage: {}\n',
      'line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    [
      'alias that contains itself',
      'admin:\n  allowedHosts: &hosts [a, *hosts]\n',
      'admin.allowedHosts[1]: an alias refers to the value that contains it',
    ],
    [
      'sparkplug options on a JSON subscription',
      "subscriptions:\n  - { topic: 'spBv1.0/#', sparkplug: { requestRebirth: true } }\n",
      'subscriptions[0].sparkplug: sparkplug options need payload: sparkplug',
    ],
    ['duplicate YAML key', 'agentId: a\nagentId: b\n', 'line 2, column 1: Map keys must be unique'],
    [
      'two YAML documents',
      'agentId: a\n---\nagentId: b\n',
      'line 2, column 1: a config file holds one YAML document: remove the second "---"',
    ],
    [
      'list document',
      '- agentId: gw\n',
      '(top level): expected a mapping of keys (like "agentId: gateway-01"), got a list',
    ],
    [
      'scalar document',
      'just some words\n',
      '(top level): expected a mapping of keys (like "agentId: gateway-01"), got a string ("just some words")',
    ],
  ];

  it.each(cases)('%s', (_name, text, line, env) => {
    const err = rejection(text, env);
    expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(err.message).toMatch(/^.*edgehook\.yaml: \d+ problems?$/);
    expect(err.details).toContain(line);
  });

  it('reports every problem of a file at once', () => {
    const err = rejection('agentIdd: gw\nsubscriptions:\n  - topic: a/#/b\nstorage:\n  whenFull: later\n');
    expect(err.message).toBe(`${path.join(dir, 'edgehook.yaml')}: 3 problems`);
    expect(err.details).toEqual([
      'subscriptions[0].topic: topic filter "a/#/b" is not a topic filter: levels separated by "/", "+" for one level, "#" only as the last level',
      'storage.whenFull: expected one of "drop-oldest", "stop-ingest", got "later"',
      'agentIdd: unknown key',
    ]);
  });

  it('reports environment and schema problems together, without a duplicate for the same value', () => {
    const err = rejection(
      endpoint('    secret: ${CLOUD_SECRET}\n    ordering: random\nadmin:\n  token: ${ADMIN_TOKEN}\n'),
    );
    expect(err.details).toEqual([
      'endpoints[0].secret: environment variable CLOUD_SECRET is not set',
      'admin.token: environment variable ADMIN_TOKEN is not set',
      'endpoints[0].ordering: expected one of "strict", "parallel", got "random"',
    ]);
    expect(err.message).toMatch(/: 3 problems$/);
  });

  it('names the source in parseConfigText errors', () => {
    expect(() => parseConfigText('agentIdd: x', { source: 'from-ui', env: {} })).toThrow(
      'from-ui: 1 problem',
    );
  });
});

describe('loadConfigFile: read errors', () => {
  it('a missing file is CONFIG_READ naming the file and the reason', () => {
    const file = path.join(dir, 'nope.yaml');
    expect(() => loadConfigFile(file, { env: {} })).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG_READ,
        message: expect.stringContaining(`${file}: it does not exist`),
      }),
    );
  });

  it('a directory is CONFIG_READ', () => {
    expect(() => loadConfigFile(dir, { env: {} })).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG_READ,
        message: expect.stringContaining('is a directory'),
      }),
    );
  });
});

describe('starter config', () => {
  it('STARTER_CONFIG parses with an empty environment', () => {
    const cfg = parseConfigText(STARTER_CONFIG, { source: 'starter', env: {}, baseDir: dir });
    expect(cfg.mqtt.url).toBe('embedded');
    expect(cfg.subscriptions).toEqual([
      { topic: 'sensors/+/temperature', qos: 1, type: 'sensor.{1}.temperature', payload: 'json' },
    ]);
    expect(cfg.endpoints[0]?.url).toBe('http://127.0.0.1:9000/hooks');
    expect(cfg.endpoints[0]?.secrets[0]).toMatch(/^whsec_/);
    expect(cfg.dataDir).toBe(path.join(dir, 'edgehook-data'));
  });

  it('EDGEHOOK_SECRET replaces the starter secret', () => {
    const cfg = parseConfigText(STARTER_CONFIG, {
      source: 'starter',
      env: { EDGEHOOK_SECRET: 'whsec_c2VjcmV0' },
    });
    expect(cfg.endpoints[0]?.secrets).toEqual(['whsec_c2VjcmV0']);
  });

  it('writeStarterConfig creates parent dirs and writes a loadable file with its own secret', () => {
    const file = path.join(dir, 'etc', 'edgehook', 'edgehook.yaml');
    writeStarterConfig(file);
    const first = loadConfigFile(file, { env: {} });
    const starter = parseConfigText(STARTER_CONFIG, { source: 'starter', env: {} });
    expect(first.endpoints[0]?.secrets[0]).toMatch(/^whsec_/);
    expect(first.endpoints[0]?.secrets[0]).not.toBe(starter.endpoints[0]?.secrets[0]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['edgehook.yaml']); // no temp file left
  });

  it('writeStarterConfig refuses to overwrite an existing file', () => {
    const file = write('edgehook.yaml', 'agentId: mine\n');
    expect(() => writeStarterConfig(file)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.CONFIG_WRITE,
        message: expect.stringContaining('already exists'),
      }),
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('agentId: mine\n');
  });
});
