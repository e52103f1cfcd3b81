import { hostname } from 'node:os';
import { z } from 'zod';
import { compileJsonata } from '../jsonata-sync.js';

/**
 * The one schema for edgehook.yaml (docs/architecture.md "Configuration file"). It is the type, the
 * default and the doc of every key: `describe()` texts feed `edgehook init` and the README's
 * reference. Objects are strict, so a typo is an error rather than a silently ignored key.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** "512MiB", "10 MB", 1048576 → bytes. */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

const byteSize = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bytes = parseByteSize(v);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `not a size: ${JSON.stringify(v)} (use e.g. 512MiB, 100MB or a number of bytes)`,
    });
    return z.NEVER;
  }
  return bytes;
});

const TOPIC_FILTER_HELP =
  'a topic filter: levels separated by "/", "+" for one level, "#" only as the last level';

/** Checks an MQTT topic filter (MQTT 5 §4.7), with an optional `$share/<group>/` prefix. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'is empty';
  let rest = filter;
  if (rest.startsWith('$share/')) {
    const parts = rest.split('/');
    if (parts.length < 3 || !parts[1] || /[+#]/.test(parts[1]))
      return 'has a $share prefix without a valid group: use $share/<group>/<filter>';
    rest = parts.slice(2).join('/');
    if (rest.length === 0) return 'has a $share prefix but no filter after it';
  }
  const levels = rest.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? '';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return `is not ${TOPIC_FILTER_HELP}`;
    if (level.includes('+') && level !== '+') return `is not ${TOPIC_FILTER_HELP}`;
  }
  return undefined;
}

const topicFilter = z.string().superRefine((v, ctx) => {
  const problem = topicFilterProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `topic filter ${JSON.stringify(v)} ${problem}` });
});

const tlsFiles = z
  .strictObject({
    ca: z.string().optional().describe('PEM file of a private certificate authority to trust'),
    cert: z.string().optional().describe('PEM client certificate (mutual TLS)'),
    key: z.string().optional().describe('PEM private key of the client certificate'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('false turns certificate verification off (logged as a warning at every start)'),
  })
  .superRefine((v, ctx) => {
    if ((v.cert === undefined) !== (v.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'cert and key go together: give both or neither',
        path: [v.cert !== undefined ? 'key' : 'cert'],
      });
    }
  });

export const SECRET_PATTERN = /^(whsec_|whsk_)[A-Za-z0-9+/=]+$/;
const secret = z
  .string()
  .regex(SECRET_PATTERN, 'a secret is "whsec_" (HMAC) or "whsk_" (ed25519) followed by base64')
  .describe('whsec_… (HMAC-SHA256, v1) or whsk_… (ed25519, v1a)');

/** Body formats an endpoint can pin (README "Payload formats and versioning"); only ever added to. */
export const PAYLOAD_FORMATS = ['edgehook/1', 'cloudevents/1.0'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

export const DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

export const endpointSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an id is 1–64 letters, digits, ".", "_" or "-"')
      .optional()
      .describe('a short name; defaults to "endpoint-<n>"'),
    url: z
      .string()
      .refine((u) => URL.canParse(u) && /^https?:\/\//i.test(u), 'not an http:// or https:// URL')
      .describe('where webhooks are POSTed'),
    secret: z
      .union([secret, z.array(secret).min(1, 'give at least one secret')])
      .optional()
      .describe('signing secret; a list while rotating (every entry signs). Absent: requests are unsigned'),
    types: z
      .array(z.string().min(1))
      .min(1)
      .default(['*'])
      .describe('event types routed here; "*" and "sensor.*" patterns'),
    headers: z.record(z.string(), z.string()).default({}).describe('extra request headers'),
    timeoutMs: z.number().int().min(100).max(600_000).default(15_000).describe('per-request timeout'),
    ordering: z
      .enum(['strict', 'parallel'])
      .default('strict')
      .describe('strict: in order, one at a time; parallel: up to maxInFlight'),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(8)
      .describe('concurrent requests when ordering is parallel'),
    batch: z
      .strictObject({
        maxEvents: z.number().int().min(1).max(10_000).default(1),
        maxWaitMs: z.number().int().min(0).max(60_000).default(0),
        maxBytes: byteSize.default(1024 * 1024),
      })
      .prefault({})
      .describe('maxEvents > 1 sends several events in one signed request'),
    format: z
      .enum(PAYLOAD_FORMATS)
      .default('edgehook/1')
      .describe(
        'the body\'s format: edgehook/1 (our envelope) or cloudevents/1.0 (CloudEvents JSON); see "Payload formats and versioning"',
      ),
    compress: z
      .enum(['none', 'gzip'])
      .default('none')
      .describe('gzip the body (the signature covers the uncompressed body)'),
    rateLimitPerSec: z.number().min(0).default(0).describe('requests per second; 0 is no limit'),
    tls: tlsFiles.optional().describe('private CA and client certificate for this endpoint'),
    retry: z
      .strictObject({
        schedule: z
          .array(z.number().positive())
          .min(1)
          .default(DEFAULT_RETRY_SCHEDULE)
          .describe('seconds to wait after each failed attempt (message trouble); then the delivery fails'),
        maxAgeHours: z.number().positive().default(72).describe('events older than this expire undelivered'),
        backoffMaxSeconds: z.number().positive().default(30).describe('cap of the endpoint-wide backoff'),
      })
      .prefault({}),
    enabled: z.boolean().default(true),
  })
  .describe('a cloud URL that receives webhooks');

/** A JSONata expression, compiled here so a syntax error is a config error by path. */
const jsonataExpression = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    try {
      compileJsonata(v);
    } catch (err) {
      const e = err as { message?: string; position?: number };
      ctx.addIssue({
        code: 'custom',
        message: `not a JSONata expression: ${e.message ?? String(err)}${e.position === undefined ? '' : ` (at character ${e.position})`}`,
      });
    }
  });

/** A dotted path into the data ("celsius", "reading.value"); absent: the whole data. */
const dataPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'a dotted path such as "celsius" or "reading.value"');

/** One step of a subscription (README, "Edge processing"): exactly one of these keys. */
export const stepSchema = z
  .strictObject({
    filter: jsonataExpression.optional().describe('JSONata; a falsy result filters the message out'),
    map: jsonataExpression.optional().describe('JSONata; its result is the new data'),
    split: jsonataExpression.optional().describe('JSONata giving an array: one event per element'),
    deadband: z
      .strictObject({
        path: dataPath.optional(),
        by: z
          .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?%$/, 'a percentage such as "5%"')])
          .optional()
          .describe('a number, or "N%" of the range (when given) or of the last reported value'),
        range: z.tuple([z.number(), z.number()]).optional().describe('[min, max]: the span "N%" is of'),
        maxSilenceSeconds: z.number().positive().optional(),
      })
      .optional()
      .describe('report by exception: pass a value that moved by at least `by` since the last reported'),
    throttle: z
      .strictObject({ intervalMs: z.number().int().positive() })
      .optional()
      .describe('leading and trailing: at most one message per interval per key, the newest wins'),
    window: z
      .strictObject({ seconds: z.number().int().positive().max(86_400), path: dataPath.optional() })
      .optional()
      .describe('tumbling, clock-aligned: count/min/max/avg/first/last/from/to per window and key'),
  })
  .superRefine((step, ctx) => {
    const kinds = Object.keys(step).filter((k) => step[k as keyof typeof step] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `a step has exactly one of filter, map, split, deadband, throttle, window (got ${kinds.length === 0 ? 'none' : kinds.join(', ')})`,
      });
    const range = step.deadband?.range;
    if (range && !(range[1] > range[0]))
      ctx.addIssue({
        code: 'custom',
        message: 'range is [min, max] with max > min',
        path: ['deadband', 'range'],
      });
  });

export const subscriptionSchema = z.strictObject({
  topic: topicFilter.describe('MQTT topic filter; $share/<group>/<filter> splits the load across agents'),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)])
    .default(1)
    .describe('0, 1 or 2; 1 and 2 are acked only once stored'),
  type: z
    .string()
    .min(1)
    .optional()
    .describe(
      'event type; "{1}", "{2}"… stand for the levels the wildcards matched. Default: the topic with "/" as "."',
    ),
  payload: z
    .enum(['json', 'text', 'binary', 'sparkplug'])
    .default('json')
    .describe('how the payload is parsed into "data"; sparkplug: Sparkplug B (spBv1.0) decoded to JSON'),
  sparkplug: z
    .strictObject({
      requestRebirth: z
        .boolean()
        .default(false)
        .describe(
          'send a Rebirth NCMD (at most once a minute per node) on an unknown alias or DATA before BIRTH',
        ),
    })
    .optional()
    .describe('options of payload: sparkplug'),
  key: z
    .string()
    .min(1)
    .optional()
    .describe('which messages share step state, a template like type\'s ("{1}"); default: the topic'),
  steps: z.array(stepSchema).optional().describe('edge processing, in order (README, "Edge processing")'),
});

const mqttSchema = z
  .strictObject({
    url: z
      .string()
      .default('embedded')
      .refine(
        (u) => u === 'embedded' || /^(mqtts?|wss?|tcp|ssl):\/\//.test(u),
        'use "embedded" or an mqtt://, mqtts://, tcp://, ssl://, ws:// or wss:// URL',
      )
      .describe('"embedded" runs a broker inside the agent; otherwise the broker URL'),
    embedded: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(1883),
      })
      .prefault({})
      .describe('where the embedded broker listens'),
    clientId: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('fixed, so the broker keeps the session; default edgehook-<agentId>'),
    username: z.string().optional(),
    password: z.string().optional(),
    protocolVersion: z
      .union([z.literal(4), z.literal(5)])
      .default(4)
      .describe('4 (MQTT 3.1.1) or 5'),
    sessionExpirySeconds: z
      .number()
      .int()
      .min(60)
      .default(7 * 24 * 3600)
      .describe('MQTT 5: how long the broker keeps the session while the agent is away'),
    keepaliveSeconds: z.number().int().min(0).max(65535).default(30),
    reconnectMaxSeconds: z.number().positive().default(30).describe('cap of the reconnect backoff'),
    tls: tlsFiles.optional(),
  })
  .prefault({});

const storageSchema = z
  .strictObject({
    maxBytes: byteSize
      .pipe(z.number().min(4096, 'storage.maxBytes must be at least 4KiB'))
      .default(512 * 1024 ** 2)
      .describe('the outbox never grows past this'),
    whenFull: z
      .enum(['drop-oldest', 'stop-ingest'])
      .default('drop-oldest')
      .describe(
        'drop-oldest: delete the oldest events (counted); stop-ingest: stop acking, the broker holds',
      ),
    keepDeliveredHours: z
      .number()
      .min(0)
      .default(24)
      .describe('delivered events stay this long for the log and replay'),
    reserveBytes: byteSize
      .default(8 * 1024 ** 2)
      .describe('a reserve file in dataDir, given up when the disk is full so deletes can still run'),
    minFreeBytes: byteSize
      .default(4 * 1024 ** 2)
      .describe('ingest holds (stops acking) while the disk has less than this free'),
  })
  .prefault({});

const processingSchema = z
  .strictObject({
    maxKeys: z
      .number()
      .int()
      .min(1)
      .default(100_000)
      .describe('keys of step state kept; past it the least recently used is flushed (counted)'),
  })
  .prefault({});

const adminSchema = z
  .strictObject({
    host: z
      .string()
      .default('127.0.0.1')
      .describe('listen address; anything but loopback still needs the token'),
    port: z.number().int().min(0).max(65535).default(8787),
    token: z
      .string()
      .min(16, 'the admin token must be at least 16 characters')
      .optional()
      .describe('absent: generated and kept in dataDir'),
    allowedHosts: z.array(z.string()).default([]).describe('extra host names the admin UI may be reached by'),
    enabled: z.boolean().default(true),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('PEM certificate (chain) of the admin server'),
        key: z.string().min(1).describe('PEM private key of that certificate'),
      })
      .optional()
      .describe(
        'serve HTTPS with this certificate; absent on a LAN address: a self-signed one kept in dataDir',
      ),
    insecureHttp: z
      .boolean()
      .default(false)
      .describe('allow plain HTTP on a non-loopback address (the token then crosses the LAN in clear)'),
  })
  .prefault({});

const heartbeatSchema = z
  .strictObject({
    intervalSeconds: z
      .number()
      .int('whole seconds')
      .min(0, 'at least 1, or 0 for off')
      .default(0)
      .describe('emit an edgehook.heartbeat event this often; 0 (the default) is off'),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    agentId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an agentId is 1–64 letters, digits, ".", "_" or "-"')
      .default(() => sanitizeId(hostname()))
      .describe('names this agent in every webhook; default: the host name'),
    dataDir: z
      .string()
      .default('./edgehook-data')
      .describe('SQLite and the admin token live here; --data-dir overrides'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    mqtt: mqttSchema,
    subscriptions: z.array(subscriptionSchema).default([{ topic: '#', qos: 1, payload: 'json' }]),
    endpoints: z.array(endpointSchema).default([]),
    storage: storageSchema,
    processing: processingSchema,
    admin: adminSchema,
    heartbeat: heartbeatSchema,
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.endpoints.forEach((ep, i) => {
      const id = ep.id ?? `endpoint-${i + 1}`;
      const first = seen.get(id);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: `duplicate endpoint id "${id}" (also endpoints[${first}])`,
          path: ['endpoints', i, 'id'],
        });
      else seen.set(id, i);
    });
    cfg.subscriptions.forEach((sub, i) => {
      if (sub.payload === 'binary' && (sub.steps?.length ?? 0) > 0)
        ctx.addIssue({
          code: 'custom',
          message: 'steps work on json or text data; a binary payload has none',
          path: ['subscriptions', i, 'steps'],
        });
      if (sub.sparkplug && sub.payload !== 'sparkplug')
        ctx.addIssue({
          code: 'custom',
          message: 'sparkplug options need payload: sparkplug',
          path: ['subscriptions', i, 'sparkplug'],
        });
    });
    if (cfg.admin.insecureHttp && cfg.admin.tls)
      ctx.addIssue({
        code: 'custom',
        message: 'admin.insecureHttp and admin.tls contradict each other: remove one',
        path: ['admin', 'insecureHttp'],
      });
    if (cfg.mqtt.url === 'embedded' && cfg.mqtt.protocolVersion === 5) {
      ctx.addIssue({
        code: 'custom',
        message: 'the embedded broker speaks MQTT 3.1.1 only: use protocolVersion 4',
        path: ['mqtt', 'protocolVersion'],
      });
    }
  });

function sanitizeId(name: string): string {
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return cleaned || 'edgehook';
}

export type ConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;
export type EndpointConfigParsed = z.output<typeof endpointSchema>;
export type SubscriptionConfig = z.output<typeof subscriptionSchema>;
export type StepConfig = z.output<typeof stepSchema>;

/** An endpoint after defaults are resolved: id filled, secrets as a list. */
export type EndpointConfig = Omit<EndpointConfigParsed, 'id' | 'secret'> & { id: string; secrets: string[] };

/** The validated, resolved configuration handed down (frozen) to every part. */
export type Config = Omit<ParsedConfig, 'endpoints' | 'mqtt'> & {
  mqtt: ParsedConfig['mqtt'] & { clientId: string };
  endpoints: EndpointConfig[];
};

/** Fills the defaults that depend on other keys (endpoint ids, client id). */
export function resolveConfig(parsed: ParsedConfig): Config {
  return {
    ...parsed,
    mqtt: { ...parsed.mqtt, clientId: parsed.mqtt.clientId ?? `edgehook-${parsed.agentId}` },
    endpoints: parsed.endpoints.map((ep, i) => resolveEndpoint(ep, i)),
  };
}

export function resolveEndpoint(ep: EndpointConfigParsed, index: number): EndpointConfig {
  const { secret: s, id, ...rest } = ep;
  return {
    ...rest,
    id: id ?? `endpoint-${index + 1}`,
    secrets: s === undefined ? [] : Array.isArray(s) ? s : [s],
  };
}
