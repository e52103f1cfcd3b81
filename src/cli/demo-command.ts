import { timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { createAgent } from '../agent/create-agent.js';
import { parseConfigText } from '../config/load.js';
import { createSigner, generateSecret, type Signer } from '../delivery/sign.js';
import { createCliLogger } from './terminal-log.js';
import { limitHeapGrowth } from '../heap-growth.js';
import { DemoEdgeNode, SPARKPLUG_SUBSCRIPTION } from './demo-sparkplug.js';

/**
 * `edgehook demo`: the whole path on one machine, for a newcomer. The embedded broker, three
 * simulated sensors publishing one reading a second between them, the agent, and a receiver on
 * 127.0.0.1 that verifies every signature with the endpoint's freshly generated secret (with the
 * project's own signing code: `standardwebhooks` is only a devDependency), drops duplicates by
 * webhook-id and notices gaps in seq, as docs/receivers.md tells receivers to.
 *
 * Data lives in a fresh temporary directory (os.tmpdir()/edgehook-demo-*) removed at the end,
 * unless --data-dir names one to keep. Runs until SIGINT/SIGTERM. --sparkplug adds a simulated
 * Sparkplug B edge node (demo-sparkplug.ts).
 */

const USAGE =
  'usage: edgehook demo [--port N] [--admin-port N] [--data-dir DIR] [--sparkplug]   (N = 0: any free port)\n';
const DEFAULT_BROKER_PORT = 1883;
const DEFAULT_ADMIN_PORT = 8787;
const TOLERANCE_SECONDS = 5 * 60;

const SENSORS = [
  {
    topic: 'sensors/kitchen/temperature',
    reading: (t: number) => ({ celsius: round(21 + 1.5 * Math.sin(t / 20)) }),
  },
  {
    topic: 'sensors/greenhouse/humidity',
    reading: (t: number) => ({ percent: round(62 + 8 * Math.sin(t / 35)) }),
  },
  {
    topic: 'sensors/boiler/pressure',
    reading: (t: number) => ({ bar: round(1.6 + 0.2 * Math.cos(t / 15)) }),
  },
];

export async function demoCommand(argv: string[]): Promise<number> {
  let values: {
    port?: string | undefined;
    'admin-port'?: string | undefined;
    'data-dir'?: string | undefined;
    sparkplug?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        'data-dir': { type: 'string' },
        sparkplug: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`edgehook demo: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const brokerPort = values.port === undefined ? await preferred(DEFAULT_BROKER_PORT) : port(values.port);
  const adminPort =
    values['admin-port'] === undefined ? await preferred(DEFAULT_ADMIN_PORT) : port(values['admin-port']);
  if (brokerPort === undefined || adminPort === undefined) {
    process.stderr.write(`edgehook demo: a port is a number from 0 to 65535\n${USAGE}`);
    return 2;
  }
  const keep = values['data-dir'] !== undefined;
  const dataDir = keep ? resolve(values['data-dir']!) : mkdtempSync(join(tmpdir(), 'edgehook-demo-'));
  const { secret } = generateSecret('hmac');

  const out = (line: string) => process.stdout.write(`${line}\n`);
  const receiver = startReceiver(createSigner([secret]), out);
  const logger = await createCliLogger('warn');
  let sensors: MqttClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  const edgeNode = values.sparkplug ? new DemoEdgeNode() : undefined;
  limitHeapGrowth();
  const agent = createAgent({
    logger,
    config: parseConfigText(
      // JSON is YAML: the demo's config goes through the same validation as a file would.
      JSON.stringify({
        agentId: 'demo',
        logLevel: 'warn',
        mqtt: { url: 'embedded', embedded: { host: '127.0.0.1', port: brokerPort } },
        subscriptions: [
          // Edge processing (README): the greenhouse reports only when humidity moves by 2 %
          // points, so its filtered count grows in the UI while the other sensors report each reading.
          {
            topic: 'sensors/greenhouse/humidity',
            qos: 1,
            type: 'sensor.greenhouse.humidity',
            steps: [{ deadband: { path: 'percent', by: 2, maxSilenceSeconds: 60 } }],
          },
          { topic: 'sensors/+/+', qos: 1, type: 'sensor.{1}.{2}' },
          ...(edgeNode ? [SPARKPLUG_SUBSCRIPTION] : []),
        ],
        endpoints: [
          {
            id: 'demo-receiver',
            url: `http://127.0.0.1:${await receiver.port}/hooks`,
            secret,
            retry: { backoffMaxSeconds: 5 },
          },
        ],
        admin: { host: '127.0.0.1', port: adminPort },
      }),
      { source: '(demo)', dataDirOverride: dataDir },
    ),
  });

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    clearInterval(timer);
    await sensors?.endAsync().catch(() => undefined);
    await edgeNode?.stop();
    await agent.stop();
    await receiver.close();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  };
  const onSignal = () => {
    if (stopping) process.exit(130);
    out('\nstopping the demo (Ctrl-C again to force)…');
    stopping = stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await agent.start();
    const brokerUrl = agent.broker!.url;
    sensors = await mqtt.connectAsync(brokerUrl, {
      clientId: `edgehook-demo-sensors-${process.pid}`,
      reconnectPeriod: 1000,
    });
    out(
      [
        '',
        'Edgehook demo: simulated sensors → embedded MQTT broker → agent (SQLite outbox) → signed webhooks → local receiver',
        '',
        `  admin UI   ${agent.loginUrl ?? '(disabled)'}`,
        `  broker     ${brokerUrl}   publish your own: npx mqtt pub -h 127.0.0.1 -p ${agent.broker!.port} -q 1 -t sensors/desk/temperature -m '{"celsius":22}'`,
        `  receiver   http://127.0.0.1:${await receiver.port}/hooks  (verifies every signature, drops duplicates, spots gaps in seq)`,
        `  data       ${dataDir}${keep ? '' : '  (temporary: removed when the demo stops)'}`,
        '',
        ...(edgeNode
          ? [
              '  sparkplug  one simulated Sparkplug B edge node (spBv1.0/demo/+/line-1/press-1), decoded to JSON; its state on the dashboard',
              '',
            ]
          : []),
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await edgeNode?.start(brokerUrl);
    let tick = 0;
    timer = setInterval(() => {
      const sensor = SENSORS[tick % SENSORS.length]!;
      tick++;
      sensors?.publish(sensor.topic, JSON.stringify(sensor.reading(tick)), { qos: 1 });
      // The edge node reports every other second, one DDATA of two metrics by alias.
      if (tick % 2 === 0) edgeNode?.publishData();
    }, 1000);
  } catch (err) {
    process.stderr.write(`edgehook demo: ${(err as Error).message}\n`);
    await stop();
    return 1;
  }
  await new Promise<void>((done) => {
    const check = setInterval(() => {
      if (stopping) {
        clearInterval(check);
        void stopping.then(done);
      }
    }, 100);
  });
  out('demo stopped');
  return 0;
}

/** The conventional port when it is free (a newcomer's own tools expect 1883), else any. */
async function preferred(wanted: number): Promise<number> {
  return new Promise((done) => {
    const probe = createNetServer();
    probe.once('error', () => done(0));
    probe.listen(wanted, '127.0.0.1', () => probe.close(() => done(wanted)));
  });
}

function port(text: string): number | undefined {
  const n = Number(text);
  return /^\d+$/.test(text) && n <= 65535 ? n : undefined;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

interface DemoReceiver {
  port: Promise<number>;
  close: () => Promise<void>;
}

/** What a receiver should do (docs/receivers.md): verify, drop duplicates, watch seq. */
function startReceiver(signer: Signer, out: (line: string) => void): DemoReceiver {
  const seen = new Set<string>();
  let lastSeq = 0;
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const problem = verify(signer, req.headers, body, Math.floor(Date.now() / 1000));
      const time = new Date().toTimeString().slice(0, 8);
      if (problem) {
        out(`${time}  REJECTED   ${problem}`);
        res.writeHead(401).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      if (seen.has(id)) {
        out(`${time}  duplicate  ${id} (already processed; acknowledged again)`);
        res.writeHead(204).end();
        return;
      }
      seen.add(id);
      const event = JSON.parse(body.toString('utf8')) as { type: string; seq: number; data: unknown };
      if (lastSeq > 0 && event.seq > lastSeq + 1)
        out(`${time}  gap        seq ${lastSeq + 1}..${event.seq - 1} not received (yet)`);
      lastSeq = Math.max(lastSeq, event.seq);
      out(`${time}  verified   #${event.seq} ${event.type} ${JSON.stringify(event.data)}`);
      res.writeHead(204).end();
    });
  });
  const port = new Promise<number>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
  return {
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Standard Webhooks verification: the three headers, a timestamp within 5 minutes (replays),
 * and one `v1,` entry equal to our own signature of "<id>.<timestamp>.<raw body>". Returns the
 * problem, or undefined when the request is genuine.
 */
export function verify(
  signer: Signer,
  headers: IncomingHttpHeaders,
  body: Buffer,
  nowSec: number,
): string | undefined {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof signature !== 'string')
    return 'missing webhook-id, webhook-timestamp or webhook-signature';
  const timestamp = Number(ts);
  if (!/^\d+$/.test(ts) || Math.abs(nowSec - timestamp) > TOLERANCE_SECONDS)
    return `timestamp ${ts} is not within 5 minutes of now`;
  const expected = Buffer.from(signer(id, timestamp, body));
  const match = signature.split(' ').some((entry) => {
    const given = Buffer.from(entry);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return match ? undefined : 'no signature matches the secret';
}
