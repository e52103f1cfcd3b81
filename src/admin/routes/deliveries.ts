import type { FastifyInstance } from 'fastify';
import { renderOne } from '../../delivery/payload-format.js';
import type { DeliveryRow } from '../../outbox/outbox-store.js';
import { ApiCodes, ApiHttpError, invalid, notFound } from '../api-errors.js';
import type { DeliveryDetail, DeliveryPage, DeliveryStatus, DeliveryView } from '../api-types.js';
import { intParam, type AdminApiDeps } from './api-deps.js';

/**
 * The delivery log (/api/deliveries): newest first, filtered, paged by seq; one delivery with
 * its body and attempts; retry one now; delete a pending or failed one (counted as deleted).
 */

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed', 'expired'];
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

interface ListQuery {
  endpoint?: string;
  status?: string;
  type?: string;
  from?: string;
  to?: string;
  before?: string;
  limit?: string;
}

function view(r: DeliveryRow): DeliveryView {
  return { ...r };
}

function seqParam(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw notFound(`delivery seq ${JSON.stringify(raw)}`);
  return n;
}

export function registerDeliveryRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  app.get<{ Querystring: ListQuery }>('/deliveries', async (req): Promise<DeliveryPage> => {
    const q = req.query;
    const fields: Record<string, string> = {};
    if (q.status !== undefined && q.status !== '' && !STATUSES.includes(q.status as DeliveryStatus)) {
      fields.status = `expected one of ${STATUSES.join(', ')}`;
    }
    const from = intParam(q.from, 'from', fields);
    const to = intParam(q.to, 'to', fields);
    const before = intParam(q.before, 'before', fields);
    const limit = intParam(q.limit, 'limit', fields) ?? DEFAULT_LIMIT;
    if (limit < 1 || limit > MAX_LIMIT) fields.limit = `from 1 to ${MAX_LIMIT}`;
    if (Object.keys(fields).length > 0) throw invalid(fields);
    const page = deps.outbox.queryDeliveries({
      endpointId: q.endpoint || undefined,
      status: (q.status || undefined) as DeliveryStatus | undefined,
      type: q.type || undefined,
      from,
      to,
      before,
      limit,
    });
    return { items: page.items.map(view), nextBefore: page.nextBefore };
  });

  app.get<{ Params: { endpoint: string; seq: string } }>(
    '/deliveries/:endpoint/:seq',
    async (req): Promise<DeliveryDetail> => {
      const found = deps.outbox.deliveryDetail(req.params.endpoint, seqParam(req.params.seq));
      if (!found) throw notFound(`delivery ${req.params.endpoint}/${req.params.seq}`);
      // Rendered as the queue renders it: the same bytes as sent (README "Payload formats and versioning").
      const format =
        deps.running().endpoints.find((e) => e.id === found.delivery.endpointId)?.format ?? 'edgehook/1';
      const rendered = renderOne(format, found.delivery.eventId, found.body);
      return {
        delivery: view(found.delivery),
        body: rendered.body,
        format,
        contentType: rendered.contentType,
        attempts: found.attempts,
      };
    },
  );

  app.post<{ Params: { endpoint: string; seq: string } }>(
    '/deliveries/:endpoint/:seq/retry',
    async (req, reply): Promise<DeliveryView> => {
      const { endpoint } = req.params;
      const seq = seqParam(req.params.seq);
      if (!deps.running().endpoints.some((e) => e.id === endpoint)) throw notFound(`endpoint "${endpoint}"`);
      if (deps.outbox.retryDelivery(endpoint, seq) === 'not-found')
        throw notFound(`delivery ${endpoint}/${seq}`);
      deps.reloadQueue(endpoint);
      deps.logger.info({ endpoint, seq }, 'delivery retried by an operator');
      reply.code(202);
      return view(deps.outbox.deliveryDetail(endpoint, seq)!.delivery);
    },
  );

  app.delete<{ Params: { endpoint: string; seq: string } }>(
    '/deliveries/:endpoint/:seq',
    async (req, reply) => {
      const { endpoint } = req.params;
      const seq = seqParam(req.params.seq);
      const result = deps.outbox.deleteDelivery(endpoint, seq);
      if (result === 'not-found') throw notFound(`delivery ${endpoint}/${seq}`);
      if (result === 'settled')
        throw new ApiHttpError(
          409,
          ApiCodes.CONFLICT,
          `delivery ${endpoint}/${seq} is already delivered or expired: only pending or failed deliveries can be deleted`,
        );
      deps.reloadQueue(endpoint);
      deps.logger.info({ endpoint, seq }, 'delivery deleted by an operator');
      return reply.code(204).send();
    },
  );
}
