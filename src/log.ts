import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" wherever a log call passes them. Secrets, tokens and
 * passwords never reach a log line (README "Admin UI"; docs/architecture.md "Secrets").
 */
export const REDACT_PATHS = [
  'secret',
  'secrets',
  'password',
  'token',
  'authorization',
  '*.secret',
  '*.secrets',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers',
  'headers',
  'mqtt.password',
  'admin.token',
  'endpoints[*].secret',
  'endpoints[*].headers',
];

/** A URL as logs and the status show it: "mqtts://user:pass@host" becomes "mqtts://***@host". */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export interface CreateLoggerOptions {
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const opts: LoggerOptions = {
    name: 'edgehook',
    level: options.level ?? process.env.EDGEHOOK_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
