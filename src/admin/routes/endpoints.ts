import type { FastifyInstance } from 'fastify';
import { appendToList, endpointFileForm, literal, mergeInto } from '../../config/config-file.js';
import { endpointSchema, type EndpointConfig } from '../../config/schema.js';
import { generateSecret, parseSecret } from '../../delivery/sign.js';
import { TEST_EVENT_TYPE } from '../../outbox/outbox-store.js';
import { ApiCodes, ApiHttpError, invalid, notFound } from '../api-errors.js';
import type {
  CreatedEndpoint,
  EndpointView,
  ReplayResult,
  RevealedSecrets,
  RotateResult,
  SecretView,
  TestEventResult,
} from '../api-types.js';
import { NotFound } from '../config-service.js';
import { isPlainObject } from '../../plain-object.js';
import { withFieldsUnder, type AdminApiDeps } from './api-deps.js';

/**
 * /api/endpoints: list, create, replace, delete; reveal and rotate secrets; send a test event;
 * replay a time range. Secrets are masked in every answer but reveal's and the one-time answers
 * of create and rotate (docs/architecture.md "Secrets").
 */

/** Shown instead of the value of a header that carries a credential; sent back, it keeps the value. */
export const MASKED_HEADER = '••••••••';
const SENSITIVE_HEADER = /authorization|cookie|token|secret|password|api[-_]?key|signature/i;

/** Keys of an endpoint the UI form does not carry: a PUT without them keeps them. */
const KEPT_WHEN_ABSENT = ['secret', 'format', 'batch', 'compress', 'rateLimitPerSec', 'tls'] as const;

const DEFAULT_ROTATE_WINDOW_HOURS = 24;
const MAX_ROTATE_WINDOW_HOURS = 24 * 90;

export function maskSecret(secret: string): string {
  const prefix = secret.slice(0, secret.indexOf('_') + 1);
  return `${prefix}…${secret.slice(-4)}`;
}

function secretView(secret: string, expiresAt: number | undefined): SecretView {
  let kind: SecretView['kind'] = 'hmac';
  let publicKey: string | undefined;
  try {
    const parsed = parseSecret(secret);
    kind = parsed.kind;
    if (parsed.kind === 'ed25519') publicKey = parsed.publicKey;
  } catch {
    /* validated before it was saved; shown masked whatever it is */
  }
  return {
    masked: maskSecret(secret),
    kind,
    ...(publicKey ? { publicKey } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

function maskHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, SENSITIVE_HEADER.test(k) ? MASKED_HEADER : v]),
  );
}

export function endpointView(ep: EndpointConfig, deps: AdminApiDeps): EndpointView {
  const live = deps.status().endpoints.find((e) => e.id === ep.id);
  const expiries = deps.config.expiries(ep.id, ep.secrets);
  return {
    id: ep.id,
    url: ep.url,
    types: [...ep.types],
    headers: maskHeaders(ep.headers),
    timeoutMs: ep.timeoutMs,
    ordering: ep.ordering,
    maxInFlight: ep.maxInFlight,
    enabled: ep.enabled,
    secrets: ep.secrets.map((s) => secretView(s, expiries.get(s))),
    retry: { ...ep.retry, schedule: [...ep.retry.schedule] },
    batch: { maxEvents: ep.batch.maxEvents, maxWaitMs: ep.batch.maxWaitMs },
    format: ep.format,
    compress: ep.compress,
    rateLimitPerSec: ep.rateLimitPerSec,
    state: live?.state ?? 'disabled',
    pending: live?.pending ?? 0,
  };
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalid({ '(top level)': 'expected a JSON object' });
  return { ...body };
}

export function registerEndpointRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const find = (id: string): EndpointConfig => {
    const ep = deps.config.saved.endpoints.find((e) => e.id === id);
    if (!ep) throw notFound(`endpoint "${id}"`);
    return ep;
  };
  const running = (id: string): EndpointConfig => {
    const ep = deps.running().endpoints.find((e) => e.id === id);
    if (!ep) throw notFound(`endpoint "${id}"`);
    return ep;
  };

  app.get(
    '/endpoints',
    async (): Promise<EndpointView[]> => deps.config.saved.endpoints.map((ep) => endpointView(ep, deps)),
  );

  app.get<{ Params: { id: string } }>(
    '/endpoints/:id',
    async (req): Promise<EndpointView> => endpointView(find(req.params.id), deps),
  );

  app.post('/endpoints', async (req, reply): Promise<CreatedEndpoint> => {
    const given = bodyObject(req.body);
    let generated: string | undefined;
    if (given.secret === undefined) {
      generated = generateSecret('hmac').secret;
      given.secret = generated;
    }
    let index = 0;
    const { config } = await withFieldsUnder(
      () => `endpoints[${index}]`,
      () =>
        deps.config.edit(({ doc, config: cfg, problems }) => {
          index = cfg.endpoints.length;
          // The schema names an endpoint without an id by position; one made here is named by the user.
          if (typeof given.id !== 'string' || given.id === '')
            problems.push({ path: `endpoints[${index}].id`, message: 'is required' });
          appendToList(doc, 'endpoints', cfg.endpoints.map(endpointFileForm), given);
        }),
    );
    const ep = config.endpoints[index]!;
    deps.logger.info(
      { endpoint: ep.id, url: ep.url, generatedSecret: generated !== undefined },
      'endpoint created',
    );
    reply.code(201);
    return { endpoint: endpointView(ep, deps), ...(generated ? { secret: generated } : {}) };
  });

  app.put<{ Params: { id: string } }>('/endpoints/:id', async (req): Promise<EndpointView> => {
    const id = req.params.id;
    const body = bodyObject(req.body);
    let index = 0;
    const { config } = await withFieldsUnder(
      () => `endpoints[${index}]`,
      () =>
        deps.config.edit(({ doc, config: cfg, problems }) => {
          index = cfg.endpoints.findIndex((e) => e.id === id);
          if (index < 0) throw new NotFound(`endpoint "${id}"`);
          const current = endpointFileForm(cfg.endpoints[index]!);
          if (body.id !== undefined && body.id !== id) {
            // Deliveries are kept by endpoint id: a rename would orphan them.
            problems.push({
              path: `endpoints[${index}].id`,
              message: 'cannot be changed; create a new endpoint instead',
            });
          }
          const given: Record<string, unknown> = { ...body, id };
          for (const k of KEPT_WHEN_ABSENT)
            if (given[k] === undefined && current[k] !== undefined) given[k] = current[k];
          if (isPlainObject(given.headers))
            given.headers = unmaskHeaders(given.headers, cfg.endpoints[index]!.headers);
          const next = endpointSchema.safeParse(given);
          // Invalid: written whole so the validation names every problem by path (nothing is saved).
          if (!next.success) doc.setIn(['endpoints', index], literal(given));
          else mergeInto(doc, ['endpoints', index], endpointSchema.parse(current), next.data, given);
        }),
    );
    const ep = config.endpoints.find((e) => e.id === id)!;
    // A save is also how an operator brings back an endpoint that answered 410 Gone.
    if (ep.enabled && deps.status().endpoints.find((e) => e.id === id)?.state === 'disabled')
      deps.resumeEndpoint(id);
    deps.logger.info({ endpoint: id }, 'endpoint saved');
    return endpointView(ep, deps);
  });

  app.delete<{ Params: { id: string } }>('/endpoints/:id', async (req, reply) => {
    const id = req.params.id;
    let discarded = 0;
    await deps.config.edit(
      ({ doc, config: cfg }) => {
        const index = cfg.endpoints.findIndex((e) => e.id === id);
        if (index < 0) throw new NotFound(`endpoint "${id}"`);
        // Endpoints without an id in the file are named by position: pin the later ones' names.
        for (let j = index + 1; j < cfg.endpoints.length; j++) {
          if (!doc.hasIn(['endpoints', j, 'id'])) doc.setIn(['endpoints', j, 'id'], cfg.endpoints[j]!.id);
        }
        doc.deleteIn(['endpoints', index]);
      },
      {
        // What was still owed to it will never be sent: an operator's delete, counted (README,
        // "Guarantees"). Done before the file is written, so a failed write cannot leave
        // deliveries owed to an endpoint that no longer exists; a failed delete writes nothing.
        before: () => {
          discarded = deps.outbox.deleteDeliveriesOf(id);
        },
      },
    );
    deps.logger.info({ endpoint: id, discardedDeliveries: discarded }, 'endpoint deleted');
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>(
    '/endpoints/:id/secrets/reveal',
    async (req): Promise<RevealedSecrets> => {
      const ep = find(req.params.id);
      deps.logger.info({ endpoint: ep.id }, 'signing secrets revealed through the admin API');
      return { secrets: [...ep.secrets] };
    },
  );

  app.post<{ Params: { id: string } }>('/endpoints/:id/rotate', async (req): Promise<RotateResult> => {
    const body = req.body === undefined || req.body === null ? {} : bodyObject(req.body);
    const hours = body.windowHours ?? DEFAULT_ROTATE_WINDOW_HOURS;
    if (
      typeof hours !== 'number' ||
      !Number.isFinite(hours) ||
      hours < 0 ||
      hours > MAX_ROTATE_WINDOW_HOURS
    ) {
      throw invalid({ windowHours: `expected a number of hours from 0 to ${MAX_ROTATE_WINDOW_HOURS}` });
    }
    find(req.params.id);
    const { secret, previousExpiresAt } = await deps.config.rotate(req.params.id, hours);
    return { secret, previousExpiresAt };
  });

  app.post<{ Params: { id: string } }>(
    '/endpoints/:id/test',
    async (req, reply): Promise<TestEventResult> => {
      const ep = running(req.params.id);
      if (!ep.enabled)
        throw new ApiHttpError(
          409,
          ApiCodes.CONFLICT,
          `endpoint "${ep.id}" is disabled: enable it to send a test event`,
        );
      const result = deps.outbox.enqueueTest(ep.id, {
        message: 'Test event sent from the Edgehook admin API',
        endpoint: ep.id,
        sentAt: new Date(deps.clock.now()).toISOString(),
      });
      if (result === 'full')
        throw new ApiHttpError(
          507,
          ApiCodes.OUTBOX_FULL,
          'the outbox is full (storage.whenFull: stop-ingest): no room for a test event',
        );
      deps.logger.info({ endpoint: ep.id, seq: result.seq, type: TEST_EVENT_TYPE }, 'test event queued');
      reply.code(202);
      return result;
    },
  );

  app.post<{ Params: { id: string } }>('/endpoints/:id/replay', async (req): Promise<ReplayResult> => {
    const ep = running(req.params.id);
    const body = bodyObject(req.body);
    const fields: Record<string, string> = {};
    for (const k of ['from', 'to'] as const) {
      if (typeof body[k] !== 'number' || !Number.isSafeInteger(body[k]) || (body[k] as number) < 0)
        fields[k] = 'expected a time in epoch milliseconds';
    }
    if (Object.keys(fields).length === 0 && (body.from as number) > (body.to as number))
      fields.to = 'must not be before "from"';
    if (Object.keys(fields).length > 0) throw invalid(fields);
    const outcome = deps.outbox.replay(ep.id, {
      from: body.from as number,
      to: body.to as number,
      types: ep.types,
      notBefore: deps.clock.now() - ep.retry.maxAgeHours * 3_600_000,
    });
    if (outcome.count > 0) deps.reloadQueue(ep.id);
    deps.logger.info({ endpoint: ep.id, ...outcome }, 'replay queued');
    return outcome;
  });
}

/** A masked header sent back means "keep the value". */
function unmaskHeaders(
  given: Record<string, unknown>,
  current: Record<string, string>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(given).map(([k, v]) => [
      k,
      v === MASKED_HEADER && current[k] !== undefined ? current[k] : v,
    ]),
  );
}
