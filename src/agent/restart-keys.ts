import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.js';
import { isPlainObject } from '../plain-object.js';

/** Read once at start: the broker connection, the admin server, identity, data directory, log level. */
const RESTART_SECTIONS = ['agentId', 'dataDir', 'logLevel', 'mqtt', 'admin'] as const;

/** Keys under RESTART_SECTIONS that differ, one level deep: "agentId", "mqtt.url", "mqtt.embedded", "admin.port". */
export function restartRequiredKeys(cur: Config, next: Config): string[] {
  const out: string[] = [];
  for (const section of RESTART_SECTIONS) {
    const a: unknown = cur[section];
    const b: unknown = next[section];
    if (isDeepStrictEqual(a, b)) continue;
    if (isPlainObject(a) && isPlainObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
        if (!isDeepStrictEqual(a[k], b[k])) out.push(`${section}.${k}`);
    } else {
      out.push(section);
    }
  }
  return out;
}
