import { createServer, type Server, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { EdgehookError, ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * `mqtt.url: embedded`: a broker inside the agent (aedes, MQTT 3.1.1) that devices on the
 * gateway publish to, so a newcomer needs nothing else installed. Its queue lives in memory:
 * what the agent has acked is in SQLite, but messages the broker took from a device and had not
 * yet passed on are lost if the process dies. For that guarantee use an external broker with
 * persistence (Mosquitto); see the README.
 */
export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly deps: { host: string; port: number; logger: Logger }) {}

  /** The running broker (tests watch its events). */
  get instance(): Aedes | undefined {
    return this.broker;
  }

  /** The port it listens on (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.deps.host.includes(':') ? `[${this.deps.host}]` : this.deps.host;
    return `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    this.broker = broker;
    const server = createServer(broker.handle);
    this.server = server;
    broker.on('clientError', (client, err) =>
      this.deps.logger.debug({ client: client.id, err: err.message }, 'embedded broker client error'),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause: NodeJS.ErrnoException) =>
        reject(
          new EdgehookError(
            ErrorCodes.MQTT,
            `the embedded MQTT broker cannot listen on ${this.deps.host}:${this.deps.port} (${cause.code ?? cause.message}): ` +
              'another broker may already use that port; set mqtt.embedded.port, or point mqtt.url at that broker',
            { cause },
          ),
        ),
      );
      server.listen(this.deps.port, this.deps.host, () => resolve());
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.deps.logger.info({ url: this.url }, 'embedded MQTT broker listening');
  }

  async stop(): Promise<void> {
    const { server, broker } = this;
    this.server = undefined;
    this.broker = undefined;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
