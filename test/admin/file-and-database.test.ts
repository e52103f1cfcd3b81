import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createAgent } from '../../src/agent/create-agent.js';
import { silentLogger } from '../../src/log.js';
import { SECRET, tempDir } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/small-disk.js';
import { apiClient } from './helpers.js';

/**
 * Admin actions that change both the config file and the database: removing an endpoint
 * (its owed deliveries go) and rotating a secret (the old one's expiry is recorded). The
 * database goes first; when the file then cannot be written, what would be left wrong is
 * undone. Each fault is real: a trigger makes SQLite refuse the write, or the config file
 * sits on a full tmpfs (root needed; CI runs as root and never skips).
 */

let agent: Agent | undefined;
let disk: SmallDisk | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  disk?.cleanup();
  disk = undefined;
});

const yaml = (url = 'http://127.0.0.1:9/hooks') => `agentId: fd-test
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions:
  - { topic: 'sensors/#', type: 'sensor' }
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET} }
admin: { port: 0 }
`;

/** An agent whose config file lives in `dir` (a full tmpfs, or a plain temp dir). */
async function start(dir: string): Promise<{ agent: Agent; file: string }> {
  const file = join(dir, 'edgehook.yaml');
  writeFileSync(file, yaml());
  const config = loadConfigFile(file, { env: {}, dataDirOverride: tempDir('edgehook-fd-data-') });
  const a = createAgent({ logger: silentLogger(), config, configFile: file });
  await a.start();
  agent = a;
  return { agent: a, file };
}

async function backlog(a: Agent, n: number): Promise<void> {
  const device = await mqtt.connectAsync(a.broker!.url);
  for (let i = 0; i < n; i++) await device.publishAsync('sensors/x', JSON.stringify({ i }), { qos: 1 });
  await device.endAsync();
  await waitFor(() => a.status().outbox.pending === n, `${n} pending`);
}

/**
 * A 1 MiB tmpfs. Mounting needs root: outside CI without it the test is reported as skipped with
 * the reason; under CI=true mountSmallDisk throws instead, so CI never skips it.
 */
function smallDisk(skip: (note?: string) => never): SmallDisk {
  const m = mountSmallDisk(tempDir('edgehook-fd-disk-'), 1024 * 1024);
  if (!m.disk) return skip(m.skipReason);
  disk = m.disk;
  return disk;
}

describe('removing an endpoint', () => {
  it('the database refuses: 507, nothing changes (file, endpoint, backlog)', async () => {
    const { agent: a, file } = await start(tempDir('edgehook-fd-'));
    await backlog(a, 3);
    const before = readFileSync(file, 'utf8');
    a.db!.exec(`CREATE TRIGGER f BEFORE DELETE ON deliveries BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    // A trigger's abort is not a disk error: the API says "internal", and still changes nothing.
    const res = await apiClient(a).del('/api/endpoints/cloud');
    expect(res.status).toBe(500);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(a.config.endpoints.map((e) => e.id)).toEqual(['cloud']);
    expect(a.outbox!.counts()).toMatchObject({ pending: 3, deleted: 0 });
    a.db!.exec('DROP TRIGGER f');
    expect((await apiClient(a).del('/api/endpoints/cloud')).status).toBe(204);
    expect(a.outbox!.counts()).toMatchObject({ pending: 0, deleted: 3 });
  });

  it('the file cannot be written (a full disk): 507, and no delivery is left owed to a gone endpoint', async ({
    skip,
  }) => {
    const d = smallDisk(skip);
    const { agent: a, file } = await start(d.dir);
    await backlog(a, 3);
    d.fill(0);
    const res = await apiClient(a).del<{ code: string }>('/api/endpoints/cloud');
    expect(res.status).toBe(507);
    expect(res.body.code).toBe('EDGEHOOK_ERR_DISK');
    // The file still names the endpoint; the database already let go of what it was owed
    // (counted as deleted), so nothing is orphaned whichever way the operator goes next.
    expect(readFileSync(file, 'utf8')).toContain('id: cloud');
    expect(a.outbox!.counts()).toMatchObject({ pending: 0, deleted: 3 });
    d.drain();
    expect((await apiClient(a).del('/api/endpoints/cloud')).status).toBe(204);
    expect(readFileSync(file, 'utf8')).not.toContain('id: cloud');
  });
});

describe('rotating a secret', () => {
  it('the file cannot be written (a full disk): 507, and no expiry is left that would end the secret in use', async ({
    skip,
  }) => {
    const d = smallDisk(skip);
    const { agent: a, file } = await start(d.dir);
    const before = readFileSync(file, 'utf8');
    d.fill(0);
    const res = await apiClient(a).post('/api/endpoints/cloud/rotate', { windowHours: 1 });
    expect(res.status).toBe(507);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(a.outbox!.secretExpiries()).toEqual([]);
    d.drain();
    expect((await apiClient(a).post('/api/endpoints/cloud/rotate', { windowHours: 1 })).status).toBe(200);
    expect(a.outbox!.secretExpiries()).toHaveLength(1);
  });

  it('the database refuses: the file keeps its one secret', async () => {
    const { agent: a, file } = await start(tempDir('edgehook-fd-'));
    const before = readFileSync(file, 'utf8');
    a.db!.exec(`CREATE TRIGGER f BEFORE INSERT ON secret_expiry BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    const res = await apiClient(a).post('/api/endpoints/cloud/rotate', { windowHours: 1 });
    expect(res.status).toBe(500);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(a.config.endpoints[0]!.secrets).toEqual([SECRET]);
  });
});
