/**
 * Endpoint `types` patterns: "*" matches any run of characters (dots included), so
 * "sensor.*" takes "sensor.temperature" and "sensor.kitchen.humidity"; no "*" means exact.
 *
 * The agent's own events (types starting with "edgehook.": heartbeat, agent.started) go only
 * to endpoints that name them with a pattern starting with "edgehook." (README "Health as
 * webhooks"): a receiver built for sensor data, on the default "*", does not start getting
 * health events after an upgrade.
 */
export const OWN_TYPE_PREFIX = 'edgehook.';

export function typeMatcher(patterns: readonly string[]): (type: string) => boolean {
  const own = compile(patterns.filter((p) => p.startsWith(OWN_TYPE_PREFIX)));
  // No patterns at all: every type but the agent's own.
  const others = patterns.length === 0 ? () => true : compile(patterns);
  return (type) => (type.startsWith(OWN_TYPE_PREFIX) ? own(type) : others(type));
}

function compile(patterns: readonly string[]): (type: string) => boolean {
  if (patterns.includes('*')) return () => true;
  if (patterns.length === 0) return () => false;
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
