import type { FastifyError, FastifyInstance } from 'fastify';
import { ConfigValidationError, type ConfigProblem } from '../config/config-file.js';
import { isEdgehookError } from '../errors.js';
import { diskErrorKind } from '../outbox/disk-guard.js';
import type { Logger } from '../log.js';
import type { ApiError } from './api-types.js';
import { NotFound } from './config-service.js';

/** Stable codes of admin API errors (ApiError.code); clients branch on these, never on text. */
export const ApiCodes = {
  VALIDATION: 'EDGEHOOK_ERR_VALIDATION',
  NOT_FOUND: 'EDGEHOOK_ERR_NOT_FOUND',
  CONFLICT: 'EDGEHOOK_ERR_CONFLICT',
  OUTBOX_FULL: 'EDGEHOOK_ERR_OUTBOX_FULL',
  BAD_REQUEST: 'EDGEHOOK_ERR_BAD_REQUEST',
  INTERNAL: 'EDGEHOOK_ERR_INTERNAL',
  /** The disk is full or failing (507): retry once there is room. */
  DISK: 'EDGEHOOK_ERR_DISK',
} as const;

export class ApiHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiHttpError';
  }
}

export function notFound(what: string): ApiHttpError {
  return new ApiHttpError(404, ApiCodes.NOT_FOUND, `${what} not found`);
}

export function invalid(fields: Record<string, string>): ApiHttpError {
  const n = Object.keys(fields).length;
  return new ApiHttpError(
    400,
    ApiCodes.VALIDATION,
    `${n} problem${n === 1 ? '' : 's'}: ${Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
    fields,
  );
}

/**
 * Config problems as fields of the request: a problem under `prefix` (the part of the config
 * the request edits, e.g. "endpoints[3]") is named relative to it ("url", "retry.schedule[2]");
 * one elsewhere in the file keeps its full path.
 */
export function fieldsFrom(problems: readonly ConfigProblem[], prefix = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const p of problems) {
    let key = p.path;
    if (prefix !== '' && key === prefix) key = '(top level)';
    else if (prefix !== '' && key.startsWith(`${prefix}.`)) key = key.slice(prefix.length + 1);
    else if (prefix !== '' && key.startsWith(`${prefix}[`)) key = key.slice(prefix.length);
    fields[key] = fields[key] ? `${fields[key]}; ${p.message}` : p.message;
  }
  return fields;
}

/** Maps what a route throws to an ApiError body; unexpected errors are logged, not shown. */
export function installErrorHandler(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err: FastifyError | Error, _req, reply) => {
    const send = (status: number, body: ApiError) => reply.code(status).send(body);
    if (err instanceof ApiHttpError)
      return send(err.status, {
        error: err.message,
        code: err.code,
        ...(err.fields ? { fields: err.fields } : {}),
      });
    if (err instanceof ConfigValidationError) {
      return send(400, { error: err.message, code: ApiCodes.VALIDATION, fields: fieldsFrom(err.problems) });
    }
    if (err instanceof NotFound)
      return send(404, { error: `${err.what} not found`, code: ApiCodes.NOT_FOUND });
    // A full or failing disk is a state the operator can act on, not an internal error: say so.
    const disk = diskErrorKind(err) ?? diskErrorKind((err as Error).cause);
    if (disk !== undefined) {
      logger.warn({ err: err.message }, 'admin request failed: the disk refused a write');
      return send(507, {
        error:
          disk === 'full'
            ? `the disk is full: the change did not complete (free some room and try again): ${err.message}`
            : `the disk reported an I/O error: the change did not complete (see the agent log): ${err.message}`,
        code: ApiCodes.DISK,
      });
    }
    if (isEdgehookError(err)) {
      logger.error({ code: err.code, err: err.message }, 'admin request failed');
      return send(500, { error: err.message, code: err.code });
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return send(status, { error: err.message, code: (err as FastifyError).code ?? ApiCodes.BAD_REQUEST });
    }
    logger.error({ err: err.message, stack: err.stack }, 'admin request failed');
    return send(500, { error: 'internal error (see the agent log)', code: ApiCodes.INTERNAL });
  });
}
