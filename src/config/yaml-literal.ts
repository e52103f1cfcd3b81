/** A step of a path into the YAML document: a key, or an index into a list. */
export type PathSegment = string | number;

/**
 * Values that come from the API are literal: a "${" in them must not read the agent's
 * environment when the file is loaded again, so it is written as "$${" (load.ts unescapes it).
 */
export function literal<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('${', '$${') as T;
  if (Array.isArray(value)) return value.map(literal) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literal(v)])) as T;
  }
  return value;
}
