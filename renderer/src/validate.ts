/**
 * Client-side checks that give feedback while typing. They repeat a few rules of
 * src/config/schema.ts because the renderer may not import runtime code from src/; the server
 * validates again with the real schema and its `fields` errors are shown the same way.
 */

export type Check = (value: string) => string | undefined;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SECRET_PATTERN = /^(whsec_|whsk_)[A-Za-z0-9+/=]+$/;

export const required =
  (what: string): Check =>
  (v) =>
    v.trim() === '' ? `${what} is required` : undefined;

export const idCheck: Check = (v) => {
  if (v.trim() === '') return 'ID is required';
  if (!ID_PATTERN.test(v))
    return 'an ID is 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit';
  return undefined;
};

export const httpUrlCheck: Check = (v) => {
  const s = v.trim();
  if (s === '') return 'URL is required';
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'not a URL: write it as http://host/path or https://host/path';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return 'the URL must start with http:// or https://';
  if (!url.hostname) return 'the URL has no host';
  return undefined;
};

export const secretCheck: Check = (v) => {
  const s = v.trim();
  if (s === '') return undefined;
  return SECRET_PATTERN.test(s)
    ? undefined
    : 'a secret is "whsec_" (HMAC) or "whsk_" (ed25519) followed by base64';
};

export function splitList(v: string): string[] {
  return v
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export const typesCheck: Check = (v) =>
  splitList(v).length === 0 ? 'give at least one event type ("*" for all)' : undefined;

/** The same rule as topicFilterProblem() in src/config/schema.ts (MQTT 5 §4.7). */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'Topic filter is required';
  let rest = filter;
  if (rest.startsWith('$share/')) {
    const parts = rest.split('/');
    if (parts.length < 3 || !parts[1] || /[+#]/.test(parts[1]))
      return 'a $share prefix needs a group: $share/<group>/<filter>';
    rest = parts.slice(2).join('/');
    if (rest.length === 0) return 'a $share prefix needs a filter after it';
  }
  const levels = rest.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? '';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return '"#" must be a whole level and the last one';
    if (level.includes('+') && level !== '+') return '"+" must be a whole level (sensors/+/temperature)';
  }
  return undefined;
}

/** Wildcards of a filter, in order: what `{1}`, `{2}`… of an event type stand for. */
export function wildcardCount(filter: string): number {
  const rest = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
  return rest.split('/').filter((l) => l === '+' || l === '#').length;
}

export function eventTypeProblem(type: string, filter: string): string | undefined {
  if (type === '') return undefined;
  if (/\s/.test(type)) return 'an event type has no spaces';
  const n = wildcardCount(filter);
  for (const m of type.matchAll(/\{(\d+)\}/g)) {
    const k = Number(m[1]);
    if (k < 1 || k > n)
      return `{${k}} needs ${k} wildcard level${k === 1 ? '' : 's'} in the topic filter (it has ${n})`;
  }
  return undefined;
}

export function intCheck(what: string, min: number, max: number): Check {
  return (v) => {
    if (v.trim() === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) return `${what} is a whole number`;
    if (n < min || n > max) return `${what} is between ${min} and ${max}`;
    return undefined;
  };
}

export function positiveCheck(what: string): Check {
  return (v) => {
    if (v.trim() === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? undefined : `${what} is a number above 0`;
  };
}

export const scheduleCheck: Check = (v) => {
  if (v.trim() === '') return undefined;
  const parts = splitList(v);
  return parts.every((p) => Number.isFinite(Number(p)) && Number(p) > 0)
    ? undefined
    : 'seconds above 0, separated by commas';
};

/** "Name: value" lines → headers. */
export function parseHeaders(v: string): { headers: Record<string, string>; problem?: string } {
  const headers: Record<string, string> = {};
  for (const line of v.split('\n')) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!name || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      return { headers, problem: `not a header line: "${line.trim()}" (write Name: value)` };
    headers[name] = line.slice(colon + 1).trim();
  }
  return { headers };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** "512MiB" → bytes, as the config file reads storage.maxBytes. */
export function parseSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

export const sizeCheck: Check = (v) => {
  const n = parseSize(v);
  if (n === undefined) return 'a size such as 512MiB, 100MB or a number of bytes';
  return n < 4096 ? 'at least 4KiB' : undefined;
};
