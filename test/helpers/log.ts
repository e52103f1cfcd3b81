import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';

export interface LoggedLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose lines land, parsed, in `lines` as they are written. */
export function captureLog(level = 'debug'): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as { level: number; msg: string };
        lines.push({ ...line, level: pino.levels.labels[line.level] ?? String(line.level) });
      }
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
