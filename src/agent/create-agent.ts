import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { Config, EndpointConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../clock.js';
import { createLogger, type Logger } from '../log.js';
import { DB_FILE_NAME, type Db } from '../outbox/open-db.js';
import { EdgehookError, ErrorCodes } from '../errors.js';
import { OutboxStore } from '../outbox/outbox-store.js';
import { DiskGuard } from '../outbox/disk-guard.js';
import { typeMatcher } from '../outbox/type-match.js';
import type { EmbeddedBroker } from '../ingest/embedded-broker.js';
import { MqttSource } from '../ingest/mqtt-source.js';
import { SparkplugStage } from '../ingest/sparkplug/sparkplug-stage.js';
import { Dispatcher } from '../delivery/dispatcher.js';
import type { Sender } from '../delivery/endpoint-queue.js';
import { createAdminServer } from '../admin/admin-server.js';
import { loadOrCreateToken } from '../admin/auth.js';
import { adminUsesTls, loadAdminTls, logAdminTransport, type AdminTls } from '../admin/admin-tls.js';
import { ConfigService } from '../admin/config-service.js';
import { ConfigFile } from '../config/config-file.js';
import { deepFreeze } from '../config/load.js';
import { VERSION } from '../version.js';
import type { AgentStatus } from './agent-status.js';
import { chainStages } from '../outbox/ingest-stage.js';
import { StepStateStore } from '../processing/step-state-store.js';
import { StepsStage } from '../processing/steps-stage.js';
import { StepTimers } from '../processing/step-timers.js';
import {
  configSha256,
  Heartbeat,
  healthEvent,
  STARTED_TOPIC,
  STARTED_TYPE,
  storeHealthEvent,
} from './health-events.js';
import { RunMarker, type PreviousStop } from './run-marker.js';
import { enabledRoutes, openDbOnFullDisk, openOutbox } from './open-outbox.js';
import { restartRequiredKeys } from './restart-keys.js';
import { readStatus } from './status-reader.js';

/**
 * The composition root (docs/architecture.md "The data path", "Layers"): the one place where
 * config, outbox, ingest, delivery and admin are wired together. The CLI and the Electron shell are
 * thin layers around it. Constructing does no I/O; start() starts the parts in order, stop() stops
 * them in reverse and one failing stop() does not keep the others from stopping.
 */

export interface AgentOptions {
  config: Config;
  /**
   * The file `config` was loaded from: admin edits are written back to it. Absent (built-in
   * defaults, or a config handed over in memory): the first edit writes dataDir/edgehook.yaml.
   */
  configFile?: string;
  logger?: Logger;
  clock?: Clock;
  /** Tests: randomness of backoff jitter. */
  random?: () => number;
  /** Tests: replace the HTTP sender. */
  createSender?: (endpoint: EndpointConfig, logger: Logger) => Sender;
}

interface Part {
  name: string;
  stop: () => Promise<void> | void;
}

/** A status is computed at most this often (more rarely when counting is slow, see status()). */
const STATUS_CACHE_MIN_MS = 250;

export class Agent {
  readonly logger: Logger;
  readonly clock: Clock;
  db: Db | undefined;
  outbox: OutboxStore | undefined;
  disk: DiskGuard | undefined;
  steps: StepsStage | undefined;
  private sparkplug: SparkplugStage | undefined;
  broker: EmbeddedBroker | undefined;
  mqtt: MqttSource | undefined;
  dispatcher: Dispatcher | undefined;
  configService: ConfigService | undefined;
  admin: FastifyInstance | undefined;
  adminToken = '';
  /** The admin server's certificate when it serves HTTPS. */
  adminTls: AdminTls | undefined;
  /** How the run before this one ended (set at start). */
  previousStop: PreviousStop | undefined;
  private runMarker: RunMarker | undefined;
  private heartbeat: Heartbeat | undefined;
  private adminAddress: AddressInfo | undefined;
  private startedAt = 0;
  private readonly parts: Part[] = [];
  private starting: Promise<void> | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private statusCache: { at: number; value: AgentStatus; forMs: number } | undefined;
  private running: Config;

  constructor(private readonly options: AgentOptions) {
    this.running = options.config;
    this.logger = options.logger ?? createLogger({ level: options.config.logLevel });
    this.clock = options.clock ?? systemClock;
  }

  /** The configuration running now (applyConfig replaces it; restart-only keys keep their start values). */
  get config(): Config {
    return this.running;
  }

  /** http(s)://host:port of the admin server once started. */
  get adminUrl(): string | undefined {
    if (!this.adminAddress) return undefined;
    const host =
      this.config.admin.host === '0.0.0.0' || this.config.admin.host === '::'
        ? '127.0.0.1'
        : this.config.admin.host;
    const scheme = this.adminTls ? 'https' : 'http';
    return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${this.adminAddress.port}`;
  }

  get loginUrl(): string | undefined {
    return this.adminUrl && `${this.adminUrl}/login?token=${encodeURIComponent(this.adminToken)}`;
  }

  async start(): Promise<void> {
    this.starting = this.startParts();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private async startParts(): Promise<void> {
    const { config, logger, clock } = this;
    this.startedAt = clock.now();
    try {
      // First: a certificate that cannot be read fails the start before anything runs.
      if (config.admin.enabled && adminUsesTls(config.admin))
        this.adminTls = await loadAdminTls(config.dataDir, config.admin.tls);
      const databaseExisted = existsSync(join(config.dataDir, DB_FILE_NAME));
      const db = openDbOnFullDisk(config.dataDir);
      this.db = db;
      this.parts.push({ name: 'database', stop: () => void db.close() });

      // A checkpoint grows the database file by the new pages the WAL holds; on a full disk only
      // the reserve has room for that. So the WAL never holds more than half the reserve's worth.
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const walPages = Math.max(64, Math.min(1000, Math.floor(config.storage.reserveBytes / pageSize / 2)));
      db.pragma(`wal_autocheckpoint = ${walPages}`);
      const disk = new DiskGuard({
        dataDir: config.dataDir,
        reserveBytes: config.storage.reserveBytes,
        minFreeBytes: config.storage.minFreeBytes,
        logger: logger.child({ module: 'disk' }),
        clock,
        relieve: () => this.outbox?.relieveDiskPressure(),
        roomInside: () => this.outbox?.freeBytesInside() ?? 0,
      });
      this.disk = disk;
      const outbox = openOutbox(
        () =>
          new OutboxStore({
            db,
            logger: logger.child({ module: 'outbox' }),
            clock,
            agentId: config.agentId,
            storage: config.storage,
            endpoints: enabledRoutes(config.endpoints),
            disk,
          }),
        config.dataDir,
      );
      this.outbox = outbox;
      this.parts.push({ name: 'outbox', stop: () => outbox.close() });
      disk.start();
      this.parts.push({ name: 'disk guard', stop: () => disk.stop() });

      // Edge processing (README, "Edge processing"): steps run inside the ingest commit; their
      // timers start now, so windows that ended while the agent was down are emitted first.
      const steps = new StepsStage({
        store: new StepStateStore(db, outbox.ledger),
        subscriptions: config.subscriptions,
        maxKeys: config.processing.maxKeys,
        logger: logger.child({ module: 'steps' }),
      });
      this.steps = steps;
      // Sparkplug B decoding comes first: the steps see the decoded metrics (README, "Sparkplug B input").
      this.sparkplug = new SparkplugStage({
        db,
        logger: logger.child({ module: 'sparkplug' }),
        subscriptions: () => this.config.subscriptions,
        publish: (topic, payload) => this.mqtt?.publish(topic, payload, 0) ?? false,
      });
      this.installStages();
      const stepTimers = new StepTimers({
        stage: steps,
        outbox,
        clock,
        logger: logger.child({ module: 'steps' }),
      });
      stepTimers.start();
      this.parts.push({ name: 'step timers', stop: () => stepTimers.stop() });

      this.announceStart(databaseExisted);

      let url = config.mqtt.url;
      if (url === 'embedded') {
        // Loaded only here: a gateway on an external broker does not carry aedes in memory.
        const { EmbeddedBroker } = await import('../ingest/embedded-broker.js');
        const broker = new EmbeddedBroker({
          ...config.mqtt.embedded,
          logger: logger.child({ module: 'embedded-broker' }),
        });
        await broker.start();
        this.broker = broker;
        this.parts.push({ name: 'embedded broker', stop: () => broker.stop() });
        url = broker.url;
      }

      const dispatcher = new Dispatcher({
        endpoints: config.endpoints,
        outbox,
        clock,
        agentId: config.agentId,
        logger: logger.child({ module: 'delivery' }),
        ...(this.options.random ? { random: this.options.random } : {}),
        ...(this.options.createSender ? { createSender: this.options.createSender } : {}),
      });
      dispatcher.start();
      this.dispatcher = dispatcher;
      this.parts.push({ name: 'delivery', stop: () => dispatcher.stop() });

      const mqtt = new MqttSource({
        mqtt: config.mqtt,
        url,
        subscriptions: config.subscriptions,
        outbox,
        logger: logger.child({ module: 'mqtt' }),
        clock,
      });
      mqtt.start();
      this.mqtt = mqtt;
      this.parts.push({ name: 'mqtt', stop: () => mqtt.stop() });

      const configService = new ConfigService({
        file: new ConfigFile({
          file: this.options.configFile ?? join(config.dataDir, 'edgehook.yaml'),
          loadedFromFile: this.options.configFile !== undefined,
          dataDir: config.dataDir,
        }),
        outbox,
        clock,
        logger: logger.child({ module: 'config' }),
        running: () => this.config,
        apply: (next) => this.applyConfig(next),
      });
      configService.start();
      this.configService = configService;
      this.parts.push({ name: 'config', stop: () => configService.stop() });

      this.pruneTimer = setInterval(() => this.housekeeping(), 60_000);
      this.pruneTimer.unref();
      this.parts.push({ name: 'housekeeping', stop: () => clearInterval(this.pruneTimer) });

      const heartbeat = new Heartbeat({
        outbox,
        wanted: (type) => this.ownEventWanted(type),
        clock,
        logger: logger.child({ module: 'heartbeat' }),
        status: () => this.status(),
        dataDir: config.dataDir,
      });
      heartbeat.setIntervalSeconds(config.heartbeat.intervalSeconds);
      this.heartbeat = heartbeat;
      this.parts.push({ name: 'heartbeat', stop: () => heartbeat.stop() });

      if (config.admin.enabled) await this.startAdmin();
      logger.info(
        { agentId: config.agentId, version: VERSION, endpoints: config.endpoints.length },
        'edgehook started',
      );
    } catch (err) {
      await this.stopParts();
      throw err;
    }
  }

  /**
   * Records that this run began and emits edgehook.agent.started, before ingest starts: it comes
   * first, by seq, among the events of this run.
   */
  private announceStart(databaseExisted: boolean): void {
    const { config, clock } = this;
    const marker = new RunMarker(config.dataDir, (err) =>
      this.logger.warn({ err: (err as Error).message }, 'could not record the run state (how this run ends)'),
    );
    this.previousStop = marker.begin(databaseExisted, clock.now());
    this.runMarker = marker;
    const data = {
      version: VERSION,
      configSha256: configSha256(config, this.options.configFile),
      previousStop: this.previousStop,
    };
    const event = healthEvent(STARTED_TYPE, STARTED_TOPIC, data, clock.now());
    if (this.ownEventWanted(STARTED_TYPE) && !storeHealthEvent(this.outbox!, event))
      this.logger.warn(
        'edgehook.agent.started not stored: the outbox is full (stop-ingest) or the disk is (see the disk state)',
      );
    if (this.previousStop === 'crash')
      this.logger.warn('the previous run did not stop cleanly (crash, kill or power cut)');
  }

  /**
   * The agent's own events are stored only when an enabled endpoint takes them: otherwise they
   * would sit in the outbox as unrouted events, counted as received, that nobody asked for.
   */
  private ownEventWanted(type: string): boolean {
    return this.config.endpoints.some((e) => e.enabled && typeMatcher(e.types)(type));
  }

  private async startAdmin(): Promise<void> {
    const { config } = this;
    this.adminToken = loadOrCreateToken(config.dataDir, config.admin.token);
    logAdminTransport(config.admin, this.adminTls, this.logger);
    const app = await createAdminServer({
      token: this.adminToken,
      tls: this.adminTls,
      host: config.admin.host,
      allowedHosts: config.admin.allowedHosts,
      logger: this.logger.child({ module: 'admin' }),
      status: () => this.status(),
      api: {
        outbox: this.outbox!,
        config: this.configService!,
        running: () => this.config,
        status: () => this.status(),
        reloadQueue: (id) => {
          this.dispatcher?.queue(id)?.reload();
          this.statusCache = undefined;
        },
        resumeEndpoint: (id) => {
          this.dispatcher?.queue(id)?.resume();
          this.statusCache = undefined;
        },
        mqttConnected: () => this.mqtt?.connected ?? false,
        trySteps: (sub, topic, payload) => this.steps!.dryRun(sub, topic, payload, this.clock.now()),
        adminFingerprint: () => this.adminTls?.fingerprint256,
        clock: this.clock,
        logger: this.logger.child({ module: 'admin-api' }),
      },
    });
    this.admin = app;
    // Registered before listen so a listen failure still closes the server.
    this.parts.push({ name: 'admin', stop: () => app.close() });
    try {
      await app.listen({ host: config.admin.host, port: config.admin.port });
    } catch (cause) {
      throw new EdgehookError(
        ErrorCodes.ADMIN_LISTEN,
        `the admin server cannot listen on ${config.admin.host}:${config.admin.port} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): set admin.port`,
        { cause },
      );
    }
    this.adminAddress = app.server.address() as AddressInfo;
  }

  private housekeeping(): void {
    try {
      const pruned = this.outbox?.prune() ?? 0;
      if (pruned > 0) this.logger.debug({ pruned }, 'pruned delivered events past keepDeliveredHours');
    } catch (err) {
      // A full disk is announced by the guard; pruning runs again in a minute.
      if (!this.disk?.noteWriteError(err))
        this.logger.error({ err: (err as Error).message }, 'housekeeping failed');
    }
  }

  status(): AgentStatus {
    const now = this.clock.now();
    // Counting is a few indexed queries; a dashboard polling it many times a second should not
    // add up to real work on a Pi. They scan an index, so they grow with the outbox (a backlog
    // of 1,000,000 events: 120-190 ms here): the answer is kept 20 times as long as it took to
    // count, so counting never takes more than a twentieth of the event loop.
    if (this.statusCache && now - this.statusCache.at < this.statusCache.forMs) return this.statusCache.value;
    const { value, countMs } = readStatus(
      {
        config: this.config,
        startedAt: this.startedAt,
        outbox: this.outbox!,
        disk: this.disk!,
        mqtt: this.mqtt,
        broker: this.broker,
        dispatcher: this.dispatcher,
        steps: this.steps,
        sparkplug: this.sparkplug,
      },
      now,
    );
    this.statusCache = { at: now, value, forMs: Math.max(STATUS_CACHE_MIN_MS, countMs * 20) };
    return value;
  }

  /**
   * Applies a new, validated configuration without a restart where the parts allow it:
   * endpoints (routing of new events and the delivery queues; an unchanged endpoint keeps its
   * queue), subscriptions (no reconnect) and storage limits. Returns the dotted keys whose
   * change waits for a restart; those keep their running values until then.
   */
  async applyConfig(next: Config): Promise<string[]> {
    const cur = this.running;
    const restartRequired = restartRequiredKeys(cur, next);
    const live = deepFreeze(
      structuredClone({
        ...next,
        agentId: cur.agentId,
        dataDir: cur.dataDir,
        logLevel: cur.logLevel,
        mqtt: cur.mqtt,
        admin: cur.admin,
      }),
    );
    this.running = live;
    this.outbox?.setStorage(live.storage);
    this.outbox?.setEndpoints(enabledRoutes(live.endpoints));
    if (!isDeepStrictEqual(cur.endpoints, live.endpoints))
      await this.dispatcher?.setEndpoints(live.endpoints);
    this.steps?.setMaxKeys(live.processing.maxKeys);
    if (!isDeepStrictEqual(cur.subscriptions, live.subscriptions)) {
      this.steps?.setSubscriptions(live.subscriptions);
      this.installStages();
      this.mqtt?.updateSubscriptions(live.subscriptions);
    }
    this.heartbeat?.setIntervalSeconds(live.heartbeat.intervalSeconds);
    this.statusCache = undefined;
    if (restartRequired.length > 0)
      this.logger.info({ restartRequired }, 'configuration saved; these keys take effect after a restart');
    return restartRequired;
  }

  /**
   * The work that joins each ingest commit (README, "Edge processing"): the steps stage always
   * (it counts every subscription's messages, about 4 µs each), Sparkplug B decoding only when
   * some subscription asks for it (its decoder is loaded on first use).
   */
  private installStages(): void {
    const subs = this.config.subscriptions;
    const sparkplug = subs.some((s) => s.payload === 'sparkplug') ? this.sparkplug : undefined;
    this.outbox?.setIngestStage(chainStages([sparkplug, this.steps]));
  }

  /** Holds every endpoint's deliveries (events keep being stored); resumeDelivery() goes on. */
  pauseDelivery(): void {
    for (const s of this.dispatcher?.statuses() ?? []) this.dispatcher?.queue(s.id)?.pause();
    this.statusCache = undefined;
  }

  resumeDelivery(): void {
    for (const s of this.dispatcher?.statuses() ?? []) this.dispatcher?.queue(s.id)?.resume();
    this.statusCache = undefined;
  }

  /** Stops in reverse order of start; every part gets its stop() even if one fails. */
  async stop(): Promise<void> {
    // A signal during start: let start finish (or fail), so no part is left running.
    if (this.starting) await this.starting.catch(() => undefined);
    await this.stopParts();
  }

  private async stopParts(): Promise<void> {
    while (this.parts.length > 0) {
      const part = this.parts.pop()!;
      try {
        await part.stop();
      } catch (err) {
        this.logger.error({ part: part.name, err: (err as Error).message }, 'error while stopping');
      }
    }
    this.adminAddress = undefined;
    // Last: only a run whose every part was asked to stop counts as a clean stop.
    try {
      this.runMarker?.markClean(this.clock.now());
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'cannot record the clean stop');
    }
    this.runMarker = undefined;
  }
}

export function createAgent(options: AgentOptions): Agent {
  return new Agent(options);
}
