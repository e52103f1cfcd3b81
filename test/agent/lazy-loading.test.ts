import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentProcess, ROOT, tempDir } from '../helpers/agent.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/net.js';

/**
 * What an idle agent does not use is not loaded (README "Memory"): the agent runs as a user runs
 * it (`node bin/edgehook.js run`), with a hook that records every module file the process loads
 * (test/helpers/record-loads.mjs). Idle, none of the modules below is there; GET /metrics and
 * the first page load theirs, and answer as before.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Loaded only when first needed, by what: a path fragment of each module's files. */
const NOT_AT_IDLE: Record<string, string> = {
  'prom-client': '/node_modules/prom-client/',
  'its OpenTelemetry API': '/node_modules/@opentelemetry/',
  'the metrics registry': '/dist/admin/routes/metrics-registry.js',
  'the UI files': '/dist/admin/ui-files.js',
  ajv: '/node_modules/ajv/',
  "fastify's schema compilers": '/node_modules/@fastify/ajv-compiler/',
  'fast-json-stringify (schemas)': '/node_modules/fast-json-stringify/index.js',
  'ws (mqtt.js over WebSocket)': '/node_modules/ws/',
  'socks (mqtt.js through a SOCKS proxy)': '/node_modules/socks/',
  'jsonata (steps with expressions)': '/node_modules/jsonata/',
  'selfsigned (admin over HTTPS)': '/node_modules/selfsigned/',
  'protobufjs (Sparkplug B)': '/node_modules/protobufjs/',
  'pino-pretty (a terminal)': '/node_modules/pino-pretty/',
};

async function idleAgent(mqtt: string) {
  const dir = tempDir('edgehook-lazy-');
  const agent = new AgentProcess(
    dir,
    `${mqtt}
subscriptions: [ { topic: 'sensors/#', qos: 1 } ]
endpoints: [ { url: 'http://127.0.0.1:9/hooks' } ]
admin: { port: 0 }
`,
  );
  cleanup.push(() => agent.cleanup());
  const loadsFile = join(dir, 'loads.txt');
  agent.env = {
    NODE_OPTIONS: `--import ${join(ROOT, 'test/helpers/record-loads.mjs')}`,
    EDGEHOOK_LOADS_FILE: loadsFile,
  };
  await agent.start();
  await waitFor(async () => (await agent.status()).mqtt.connected, 'the agent to connect', 20_000, 100);
  const loaded = () => readFileSync(loadsFile, 'utf8');
  const token = readFileSync(join(agent.dataDir, 'admin-token'), 'utf8').trim();
  const get = (path: string) =>
    fetch(`${agent.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { agent, loaded, get };
}

function notLoaded(loaded: string, what: string): void {
  expect(loaded, `${what} is loaded`).not.toContain(NOT_AT_IDLE[what]);
}

it('an idle agent with the embedded broker loads aedes but none of what it does not use', async () => {
  const port = await freePort();
  const { loaded, get } = await idleAgent(`mqtt: { url: embedded, embedded: { port: ${port} } }`);
  const idle = loaded();
  // The recorder works: it saw what any agent loads.
  expect(idle).toContain('/node_modules/better-sqlite3/');
  expect(idle).toContain('/dist/admin/ui-static.js');
  expect(idle).toContain('/node_modules/aedes/');
  for (const what of Object.keys(NOT_AT_IDLE)) notLoaded(idle, what);

  // GET /metrics loads prom-client and answers with the agent's metrics.
  const metrics = await get('/metrics');
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await metrics.text();
  expect(text).toContain('# TYPE edgehook_deliveries_total counter');
  expect(text).toContain('edgehook_delivery_duration_seconds_count{endpoint="endpoint-1"} 0');
  expect(text).toContain('edgehook_mqtt_connected 1');
  expect(loaded()).toContain(NOT_AT_IDLE['prom-client']);
  expect((await get('/metrics')).status).toBe(200);

  // The first page loads the UI's file serving; the page and its assets are served.
  expect(loaded()).not.toContain(NOT_AT_IDLE['the UI files']);
  const page = await get('/');
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
  const html = await page.text();
  const script = /src="\.?\/assets\/([^"]+\.js)"/.exec(html)?.[1];
  expect(script, 'the page names its script').toBeDefined();
  expect(existsSync(join(ROOT, 'dist/ui/assets', script!))).toBe(true);
  const asset = await get(`/assets/${script}`);
  expect(asset.status).toBe(200);
  expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
  expect((await get('/assets/no-such-file.js')).status).toBe(404);
  expect(loaded()).toContain(NOT_AT_IDLE['the UI files']);
  // Still nothing of the rest.
  for (const what of Object.keys(NOT_AT_IDLE).filter((w) => !/prom-client|OpenTelemetry|metrics|UI/.test(w)))
    notLoaded(loaded(), what);
  expect(readdirSync(join(ROOT, 'dist/ui/assets')).length).toBeGreaterThan(0);
}, 60_000);

it('with an external broker, aedes is not loaded either', async () => {
  const mosq = await startMosquitto();
  cleanup.push(() => mosq.cleanup());
  const { loaded } = await idleAgent(`mqtt: { url: '${mosq.url}' }`);
  const idle = loaded();
  expect(idle).toContain('/node_modules/mqtt/');
  expect(idle).not.toContain('/node_modules/aedes/');
  for (const what of Object.keys(NOT_AT_IDLE)) notLoaded(idle, what);
}, 60_000);
