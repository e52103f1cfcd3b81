/**
 * Endpoint `types` patterns: "*" matches any run of characters (dots included), so
 * "sensor.*" takes "sensor.temperature" and "sensor.kitchen.humidity"; no "*" means exact.
 */
export function typeMatcher(patterns: readonly string[]): (type: string) => boolean {
  if (patterns.length === 0 || patterns.includes('*')) return () => true;
  const regexes = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ),
  );
  return (type) => regexes.some((r) => r.test(type));
}
