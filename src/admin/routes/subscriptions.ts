import type { FastifyInstance } from 'fastify';
import { appendToList, literal, materializeList, mergeInto } from '../../config/config-file.js';
import { subscriptionSchema, type SubscriptionConfig } from '../../config/schema.js';
import { invalid, notFound } from '../api-errors.js';
import type { SubscriptionView, TryStepsResult } from '../api-types.js';
import { NotFound } from '../config-service.js';
import { isPlainObject } from '../../plain-object.js';
import { withFieldsUnder, type AdminApiDeps } from './api-deps.js';

/**
 * /api/subscriptions, addressed by position in the file's list. Changes apply without a
 * reconnect (MqttSource.updateSubscriptions) and are written back to the config file.
 */

function view(s: SubscriptionConfig, index: number): SubscriptionView {
  return {
    index,
    topic: s.topic,
    qos: s.qos,
    ...(s.type !== undefined ? { type: s.type } : {}),
    payload: s.payload,
    ...(s.key !== undefined ? { key: s.key } : {}),
    ...(s.steps?.length ? { steps: s.steps } : {}),
    ...(s.sparkplug ? { sparkplug: s.sparkplug } : {}),
  };
}

/** As a person would write it: defaults left out. */
function fileForm(s: SubscriptionConfig): Record<string, unknown> {
  return {
    topic: s.topic,
    ...(s.qos !== 1 ? { qos: s.qos } : {}),
    ...(s.type !== undefined ? { type: s.type } : {}),
    ...(s.payload !== 'json' ? { payload: s.payload } : {}),
    ...(s.key !== undefined ? { key: s.key } : {}),
    ...(s.steps?.length ? { steps: s.steps } : {}),
    ...(s.sparkplug ? { sparkplug: s.sparkplug } : {}),
  };
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalid({ '(top level)': 'expected a JSON object' });
  // The index is the address, not part of the entry.
  const { index: _index, ...rest } = body;
  return rest;
}

function indexParam(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw notFound(`subscription ${JSON.stringify(raw)}`);
  return n;
}

export function registerSubscriptionRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  app.get(
    '/subscriptions',
    async (): Promise<SubscriptionView[]> => deps.config.saved.subscriptions.map(view),
  );

  app.post('/subscriptions/try', async (req): Promise<TryStepsResult> => {
    const body = isPlainObject(req.body) ? req.body : {};
    const fields: Record<string, string> = {};
    if (typeof body.topic !== 'string' || body.topic === '') fields.topic = 'expected a topic';
    if (typeof body.payload !== 'string') fields.payload = 'expected the payload as a string';
    let sub: SubscriptionConfig | undefined;
    if (typeof body.subscription === 'number') {
      sub = deps.running().subscriptions[body.subscription];
      if (!sub) fields.subscription = `no subscription at index ${body.subscription}`;
    } else {
      const parsed = subscriptionSchema.safeParse(body.subscription);
      if (parsed.success) sub = parsed.data;
      else
        for (const issue of parsed.error.issues)
          fields[['subscription', ...issue.path].join('.')] = issue.message;
    }
    if (Object.keys(fields).length > 0 || !sub || !deps.trySteps) throw invalid(fields);
    return deps.trySteps(sub, body.topic as string, Buffer.from(body.payload as string));
  });

  app.post('/subscriptions', async (req, reply): Promise<SubscriptionView> => {
    const given = bodyObject(req.body);
    let index = 0;
    const { config } = await withFieldsUnder(
      () => `subscriptions[${index}]`,
      () =>
        deps.config.edit(({ doc, config: cfg }) => {
          index = cfg.subscriptions.length;
          appendToList(doc, 'subscriptions', cfg.subscriptions.map(fileForm), given);
        }),
    );
    deps.logger.info({ topic: config.subscriptions[index]!.topic }, 'subscription added');
    reply.code(201);
    return view(config.subscriptions[index]!, index);
  });

  app.put<{ Params: { index: string } }>('/subscriptions/:index', async (req): Promise<SubscriptionView> => {
    const index = indexParam(req.params.index);
    const given = bodyObject(req.body);
    const { config } = await withFieldsUnder(
      () => `subscriptions[${index}]`,
      () =>
        deps.config.edit(({ doc, config: cfg }) => {
          const current = cfg.subscriptions[index];
          if (!current) throw new NotFound(`subscription ${index}`);
          materializeList(doc, 'subscriptions', cfg.subscriptions.map(fileForm));
          const next = subscriptionSchema.safeParse(given);
          if (!next.success) doc.setIn(['subscriptions', index], literal(given));
          else
            mergeInto(
              doc,
              ['subscriptions', index],
              subscriptionSchema.parse(fileForm(current)),
              next.data,
              given,
            );
        }),
    );
    deps.logger.info({ index, topic: config.subscriptions[index]!.topic }, 'subscription saved');
    return view(config.subscriptions[index]!, index);
  });

  app.delete<{ Params: { index: string } }>('/subscriptions/:index', async (req, reply) => {
    const index = indexParam(req.params.index);
    await deps.config.edit(({ doc, config: cfg }) => {
      if (!cfg.subscriptions[index]) throw new NotFound(`subscription ${index}`);
      materializeList(doc, 'subscriptions', cfg.subscriptions.map(fileForm));
      doc.deleteIn(['subscriptions', index]);
    });
    deps.logger.info({ index }, 'subscription deleted');
    return reply.code(204).send();
  });
}
