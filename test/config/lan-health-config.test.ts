import { describe, expect, it } from 'vitest';
import { adminUsesTls, isLoopbackHost } from '../../src/admin/admin-tls.js';
import { parseConfigText } from '../../src/config/load.js';
import { isEdgehookError } from '../../src/errors.js';
import { typeMatcher } from '../../src/outbox/type-match.js';

/** The config keys of the admin UI across the LAN and of health events, and their routing rule. */

const parse = (yaml: string) =>
  parseConfigText(yaml, { source: 'x.yaml', env: {}, baseDir: '/etc/edgehook' });

function problems(yaml: string): string[] {
  try {
    parse(yaml);
  } catch (err) {
    if (isEdgehookError(err)) return [...err.details];
    throw err;
  }
  return [];
}

describe('admin.tls, admin.insecureHttp, heartbeat', () => {
  it('has defaults: plain HTTP on loopback, heartbeats off', () => {
    const c = parse('{}');
    expect(c.admin.insecureHttp).toBe(false);
    expect(c.admin.tls).toBeUndefined();
    expect(c.heartbeat).toEqual({ intervalSeconds: 0 });
    expect(adminUsesTls(c.admin)).toBe(false);
  });

  it('resolves admin.tls files relative to the config file', () => {
    const c = parse('admin: { tls: { cert: admin.pem, key: keys/admin.key } }');
    expect(c.admin.tls).toEqual({ cert: '/etc/edgehook/admin.pem', key: '/etc/edgehook/keys/admin.key' });
    expect(adminUsesTls(c.admin)).toBe(true);
  });

  it('lists bad values by path', () => {
    expect(problems('heartbeat: { intervalSeconds: -1 }')).toEqual([
      expect.stringMatching(/^heartbeat\.intervalSeconds: /),
    ]);
    expect(problems('heartbeat: { intervalSeconds: 2.5 }')).toEqual([
      expect.stringMatching(/^heartbeat\.intervalSeconds: /),
    ]);
    expect(problems('admin: { tls: { cert: a.pem } }')).toEqual([
      expect.stringMatching(/^admin\.tls\.key: /),
    ]);
    expect(problems('admin: { insecureHttp: true, tls: { cert: a.pem, key: a.key } }')).toEqual([
      expect.stringMatching(/^admin\.insecureHttp: .*contradict/),
    ]);
    expect(problems('heartbeat: { everySeconds: 5 }')).toEqual([
      expect.stringMatching(/^heartbeat\.everySeconds: /),
    ]);
  });

  it('serves HTTPS on every address but loopback, unless insecureHttp', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'gateway.local'])
      expect(isLoopbackHost(host), host).toBe(false);
    expect(adminUsesTls({ host: '0.0.0.0', insecureHttp: false })).toBe(true);
    expect(adminUsesTls({ host: '0.0.0.0', insecureHttp: true })).toBe(false);
  });
});

describe('endpoint types and the agent’s own events', () => {
  it('"*" and other patterns take device events; edgehook.* events only where a pattern names them', () => {
    const all = typeMatcher(['*']);
    expect(all('sensor.kitchen.temperature')).toBe(true);
    expect(all('edgehook.heartbeat')).toBe(false);
    expect(all('edgehook.agent.started')).toBe(false);
    const fleet = typeMatcher(['edgehook.*']);
    expect(fleet('edgehook.heartbeat')).toBe(true);
    expect(fleet('edgehook.agent.started')).toBe(true);
    expect(fleet('sensor.x')).toBe(false);
    const one = typeMatcher(['sensor.*', 'edgehook.heartbeat']);
    expect(one('edgehook.heartbeat')).toBe(true);
    expect(one('edgehook.agent.started')).toBe(false);
    expect(one('sensor.x')).toBe(true);
    expect(typeMatcher(['*.started'])('edgehook.agent.started')).toBe(false);
  });
});
