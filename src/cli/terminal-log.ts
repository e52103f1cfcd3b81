import { createLogger, type Logger } from '../log.js';

/**
 * The CLI's logger (docs/headless.md "Logs"): pino JSON lines when stdout is a pipe or a file
 * (journald, log shippers, `| jq`), readable colored lines when it is a terminal. EDGEHOOK_LOG_FORMAT=json or
 * =pretty overrides the guess. pino-pretty runs as a stream in this thread, loaded only when
 * used: a transport would start a worker thread, and RSS matters on a Pi (≤ 60 MB idle).
 * Redaction happens in pino before either format, so secrets stay out of both.
 */
export async function createCliLogger(
  level: string,
  opts: { stdout?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv } = {},
): Promise<Logger> {
  const stdout = opts.stdout ?? process.stdout;
  const env = opts.env ?? process.env;
  const format =
    env.EDGEHOOK_LOG_FORMAT === 'json' || env.EDGEHOOK_LOG_FORMAT === 'pretty'
      ? env.EDGEHOOK_LOG_FORMAT
      : stdout.isTTY
        ? 'pretty'
        : 'json';
  if (format === 'json') return createLogger({ level });
  const { default: pretty } = await import('pino-pretty');
  return createLogger({
    level,
    destination: pretty({
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name,module',
      messageFormat: '{if module}[{module}] {end}{msg}',
      singleLine: true,
      // Synchronous writes: the last lines before exit (the CLI exits soon after stopping) are not lost.
      sync: true,
    }),
  });
}
