/**
 * Errors with stable codes (the undici / Fastify habit): callers branch on `code`, never on
 * message text. Causes are wrapped with `{ cause }` so the original stack survives.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'EDGEHOOK_ERR_CONFIG_INVALID',
  CONFIG_READ: 'EDGEHOOK_ERR_CONFIG_READ',
  CONFIG_WRITE: 'EDGEHOOK_ERR_CONFIG_WRITE',
  DB_OPEN: 'EDGEHOOK_ERR_DB_OPEN',
  DB_CORRUPT: 'EDGEHOOK_ERR_DB_CORRUPT',
  DB_FROM_FUTURE: 'EDGEHOOK_ERR_DB_FROM_FUTURE',
  DATA_DIR: 'EDGEHOOK_ERR_DATA_DIR',
  SQLITE_DRIVER: 'EDGEHOOK_ERR_SQLITE_DRIVER',
  SECRET_INVALID: 'EDGEHOOK_ERR_SECRET_INVALID',
  MQTT: 'EDGEHOOK_ERR_MQTT',
  ADMIN_LISTEN: 'EDGEHOOK_ERR_ADMIN_LISTEN',
  ADMIN_TLS: 'EDGEHOOK_ERR_ADMIN_TLS',
  NOT_FOUND: 'EDGEHOOK_ERR_NOT_FOUND',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class EdgehookError extends Error {
  readonly code: ErrorCode;
  /** Extra lines a user should see (e.g. every config problem by path). */
  readonly details: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: readonly string[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgehookError';
    this.code = code;
    this.details = options.details ?? [];
  }
}

export function isEdgehookError(err: unknown, code?: ErrorCode): err is EdgehookError {
  return err instanceof EdgehookError && (code === undefined || err.code === code);
}
