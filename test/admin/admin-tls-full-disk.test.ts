import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { CERT_FILE, KEY_FILE, loadAdminTls } from '../../src/admin/admin-tls.js';
import { tempDir } from '../helpers/agent.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/small-disk.js';

/**
 * The admin certificate on a full disk (README, "Guarantees"): the agent still starts, so the
 * UI that shows the full disk is there. A certificate that cannot be kept is served for this
 * run only, with a warning; one that is due for renewal but still valid is served until the
 * disk has room. Nothing half-written is left behind. Needs root for a real tmpfs (CI runs as
 * root; under CI=true a failed mount fails the test, elsewhere it is skipped with the reason).
 */

let disk: SmallDisk | undefined;
afterEach(() => {
  disk?.cleanup();
  disk = undefined;
});

const DAY = 86_400_000;

function small(skip: (note?: string) => never): SmallDisk {
  const m = mountSmallDisk(tempDir('edgehook-tls-disk-'), 1024 * 1024);
  if (!m.disk) return skip(m.skipReason);
  disk = m.disk;
  return m.disk;
}

it('first start on a full disk: a certificate for this run only, with a warning; no file left behind', async ({
  skip,
}) => {
  const d = small(skip);
  d.fill();
  const tls = await loadAdminTls(d.dir, undefined);
  expect(tls.warning).toMatch(/disk is full \(ENOSPC\).*not kept.*fingerprint changes/);
  expect(new X509Certificate(tls.cert).fingerprint256).toBe(tls.fingerprint256);
  expect(readdirSync(d.dir).filter((f) => f !== 'app.log')).toEqual([]);
});

it('renewal due on a full disk: the current certificate is served until the disk has room, then renewed', async ({
  skip,
}) => {
  const d = small(skip);
  const first = await loadAdminTls(d.dir, undefined);
  expect(first).toMatchObject({ created: true });
  expect(first.warning).toBeUndefined();
  const validTo = Date.parse(new X509Certificate(first.cert).validTo);
  const due = validTo - 3 * DAY;
  d.fill();
  const kept = await loadAdminTls(d.dir, undefined, due);
  expect(kept.fingerprint256).toBe(first.fingerprint256);
  expect(kept.warning).toMatch(/disk is full \(ENOSPC\).*not renewed yet/);
  expect(readFileSync(join(d.dir, CERT_FILE), 'utf8')).toBe(first.cert);
  expect(readdirSync(d.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  d.drain();
  const renewed = await loadAdminTls(d.dir, undefined, due);
  expect(renewed).toMatchObject({ created: true });
  expect(renewed.warning).toBeUndefined();
  expect(renewed.fingerprint256).not.toBe(first.fingerprint256);
  expect(readFileSync(join(d.dir, CERT_FILE), 'utf8')).toBe(renewed.cert);
  expect(existsSync(join(d.dir, KEY_FILE))).toBe(true);
});
