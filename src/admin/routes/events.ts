import type { FastifyInstance } from 'fastify';
import type { RejectedEventRow } from '../../outbox/outbox-store.js';
import { invalid, notFound } from '../api-errors.js';
import type { RedeliverResult, RejectedEventPage, RejectedEventView } from '../api-types.js';
import { intParam, type AdminApiDeps } from './api-deps.js';

/**
 * /api/events: rejected events (payload did not parse as its subscription declares, README
 * "Guarantees" 5) with their reason, and redelivering one to the endpoints its type routes to.
 */

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The payload's first bytes as text when they are UTF-8 (a cut multi-byte tail forgiven), else base64. */
export function previewOf(bytes: Buffer): string {
  for (let cut = 0; cut <= Math.min(3, bytes.length); cut++) {
    try {
      const text = utf8.decode(bytes.subarray(0, bytes.length - cut));
      // Control characters other than whitespace mean it is not text a person reads.
      if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return text;
      break;
    } catch {
      /* try without the last byte: it may be half a character cut at the preview's end */
    }
  }
  return `base64:${bytes.toString('base64')}`;
}

function view(r: RejectedEventRow): RejectedEventView {
  return {
    seq: r.seq,
    eventId: r.eventId,
    topic: r.topic,
    type: r.type,
    receivedAt: r.receivedAt,
    reason: r.reason,
    preview: previewOf(r.preview),
  };
}

export function registerEventRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  app.get<{ Querystring: { state?: string; limit?: string; before?: string } }>(
    '/events',
    async (req): Promise<RejectedEventPage> => {
      const fields: Record<string, string> = {};
      if (req.query.state !== undefined && req.query.state !== 'rejected')
        fields.state = 'only "rejected" is listed here; see /api/deliveries for the others';
      const before = intParam(req.query.before, 'before', fields);
      const limit = intParam(req.query.limit, 'limit', fields) ?? DEFAULT_LIMIT;
      if (limit < 1 || limit > MAX_LIMIT) fields.limit = `from 1 to ${MAX_LIMIT}`;
      if (Object.keys(fields).length > 0) throw invalid(fields);
      const rows = deps.outbox.rejectedEvents({ before, limit: limit + 1 });
      const items = rows.slice(0, limit).map(view);
      return { items, nextBefore: rows.length > limit ? items[items.length - 1]!.seq : null };
    },
  );

  app.post<{ Params: { seq: string } }>(
    '/events/:seq/redeliver',
    async (req, reply): Promise<RedeliverResult> => {
      const seq = Number(req.params.seq);
      const result = Number.isSafeInteger(seq) && seq > 0 ? deps.outbox.redeliverRejected(seq) : undefined;
      if (!result) throw notFound(`rejected event ${JSON.stringify(req.params.seq)}`);
      deps.logger.info({ seq, endpoints: result.endpoints }, 'rejected event redelivered by an operator');
      reply.code(202);
      return result;
    },
  );
}
