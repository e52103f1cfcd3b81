import type { FastifyInstance } from 'fastify';
import { isDeepStrictEqual } from 'node:util';
import type { Document } from 'yaml';
import { literal, type PathSegment } from '../../config/config-file.js';
import type { Config } from '../../config/schema.js';
import { invalid } from '../api-errors.js';
import type { SaveResult, SettingsView } from '../api-types.js';
import { isPlainObject } from '../../plain-object.js';
import { withFieldsUnder, type AdminApiDeps } from './api-deps.js';

/**
 * /api/settings: agent, broker, storage and admin settings. PUT takes any part of
 * SettingsView; keys it leaves out keep their value, `null` puts a key back to its default.
 * Most of these are read once at start: the answer names those waiting for a restart.
 */

const SECTIONS = new Set(['agentId', 'logLevel', 'mqtt', 'storage', 'admin', 'heartbeat']);
/** Shown, not set: derived from other keys, or facts of the running server. */
const READ_ONLY = new Set(['mqtt.hasPassword', 'admin.https', 'admin.fingerprint256']);

export function settingsView(cfg: Config): SettingsView {
  const { mqtt, storage, admin } = cfg;
  return {
    agentId: cfg.agentId,
    logLevel: cfg.logLevel,
    mqtt: {
      url: mqtt.url,
      embedded: { host: mqtt.embedded.host, port: mqtt.embedded.port },
      clientId: mqtt.clientId,
      ...(mqtt.username !== undefined ? { username: mqtt.username } : {}),
      hasPassword: mqtt.password !== undefined,
      protocolVersion: mqtt.protocolVersion,
    },
    storage: {
      maxBytes: storage.maxBytes,
      whenFull: storage.whenFull,
      keepDeliveredHours: storage.keepDeliveredHours,
    },
    admin: {
      host: admin.host,
      port: admin.port,
      allowedHosts: [...admin.allowedHosts],
      insecureHttp: admin.insecureHttp,
    },
    heartbeat: { intervalSeconds: cfg.heartbeat.intervalSeconds },
  };
}

/** Writes each given leaf that differs from the current value; objects are merged key by key. */
function applyPartial(doc: Document, at: PathSegment[], current: unknown, given: unknown): void {
  if (isPlainObject(given) && isPlainObject(current)) {
    for (const [k, v] of Object.entries(given)) {
      if (v === undefined || READ_ONLY.has([...at, k].join('.'))) continue;
      applyPartial(doc, [...at, k], current[k], v);
    }
    return;
  }
  if (given === null) {
    if (doc.hasIn(at)) doc.deleteIn(at);
    return;
  }
  if (!isDeepStrictEqual(current, given)) doc.setIn(at, literal(given));
}

export function registerSettingsRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  app.get('/settings', async (): Promise<SettingsView> => {
    const view = settingsView(deps.config.saved);
    // The certificate the server runs with now, so a user can compare it with the browser's.
    const fingerprint256 = deps.adminFingerprint?.();
    view.admin.https = fingerprint256 !== undefined;
    if (fingerprint256 !== undefined) view.admin.fingerprint256 = fingerprint256;
    return view;
  });

  app.put('/settings', async (req): Promise<SaveResult> => {
    if (!isPlainObject(req.body)) throw invalid({ '(top level)': 'expected a JSON object' });
    const body = req.body;
    const fields: Record<string, string> = {};
    for (const k of Object.keys(body)) {
      if (!SECTIONS.has(k))
        fields[k] =
          k === 'endpoints' || k === 'subscriptions' ? `not a setting: use /api/${k}` : 'unknown key';
    }
    if (Object.keys(fields).length > 0) throw invalid(fields);
    const { restartRequired } = await withFieldsUnder(
      () => '',
      () =>
        deps.config.edit(({ doc, config }) => {
          for (const [k, v] of Object.entries(body))
            applyPartial(doc, [k], (config as unknown as Record<string, unknown>)[k], v);
        }),
    );
    return { restartRequired };
  });
}
