import { readFileSync } from 'node:fs';
import type { IClientOptions, IPublishPacket, MqttClient, Packet } from 'mqtt';
import { connectMqtt } from './mqtt-connect.js';
import { hookedIncomingStore, interceptSend, type SendPacket, setReconnectPeriod } from './mqtt-internals.js';
import type { Config, SubscriptionConfig } from '../config/schema.js';
import type { Clock } from '../clock.js';
import { type Logger, redactUrl } from '../log.js';
import type { AppendResult, NewEvent, OutboxStore } from '../outbox/outbox-store.js';
import { type Routed, Router } from './route.js';
import { DISK_RETRY_MS } from '../outbox/disk-guard.js';

/**
 * The MQTT side of the data path. The promise (docs/architecture.md, "Nothing is lost between the broker and the cloud"): a QoS 1/2 message is acked to
 * the broker only after its event is committed to SQLite.
 *
 * How, with mqtt.js: it hands one packet at a time to `handleMessage` and sends the PUBACK when
 * that callback runs (QoS 2: PUBREC once `incomingStore.put` calls back), and parses the next
 * packet only after that. Waiting for a commit per message would cap ingest at one fsync per
 * message. So the callback runs at once, and the PUBACK/PUBREC it triggers is held back here
 * until the group commit that holds its event is done and on disk (group commit, docs/architecture.md "The promise";
 * the sync runs off the event loop, see OutboxStore.afterDurable). MAX_HELD bounds how many
 * messages wait at once; with MQTT 5 the broker's in-flight window is set below it (RECEIVE_MAXIMUM).
 *
 * mqtt.js 5.16 is pinned: the internals this relies on are all in mqtt-internals.ts.
 */

/**
 * Past this many messages in memory (received but not committed, or committed but not yet on
 * disk), mqtt.js is kept from parsing the next packet until fewer than RESUME_AT are left. Its
 * input stream then stops reading the socket, and the broker keeps the rest. Brokers do not
 * bound this for us: Mosquitto 2.0 was measured sending 22,000 QoS 1 messages ahead of their
 * PUBACKs despite max_inflight_messages 1000, so a burst filled the agent's heap and blocked
 * its event loop for half a second in one commit (BENCHMARKS.md).
 */
const MAX_HELD = 2000;
const RESUME_AT = 1000;
/**
 * MQTT 5's Receive Maximum (MQTT 5 §3.1.2.11.3, §4.9): the broker sends at most this many QoS 1/2
 * messages ahead of their PUBACK/PUBCOMP, so with MQTT 5 it stops before MAX_HELD is reached
 * and the socket is not parked for them. One below MAX_HELD, because the park starts at
 * MAX_HELD; it stays for MQTT 3.1.1 (no such limit), QoS 0 and a broker that ignores the limit.
 */
export const RECEIVE_MAXIMUM = MAX_HELD - 1;

/** How long stop() waits for the sync of the last commit before it closes the connection. */
const STOP_SYNC_WAIT_MS = 5000;

interface Pending {
  event: NewEvent;
  messageId: number | undefined;
  /** The connection the packet came on: an ack is only ever sent on that same connection. */
  generation: number;
}

export interface MqttSourceDeps {
  mqtt: Config['mqtt'];
  /** The broker URL to connect to (the embedded broker's address when mqtt.url is "embedded"). */
  url: string;
  subscriptions: readonly SubscriptionConfig[];
  outbox: OutboxStore;
  logger: Logger;
  clock: Clock;
  onConnectionChange?: (connected: boolean) => void;
}

export class MqttSource {
  private client: MqttClient | undefined;
  private router: Router;
  private subscriptions: readonly SubscriptionConfig[];
  private batch: Pending[] = [];
  private commitScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Packet ids whose event is not committed yet: their PUBACK/PUBREC waits. */
  private readonly awaitingCommit = new Map<number, number>(); // packet id → its connection (generation)
  private readonly heldAcks = new Map<number, { packet: Packet; generation: number }>();
  private generation = 0;
  /** mqtt.js's "go on with the next packet", held while MAX_HELD messages are in memory. */
  private pausedRead: { next: () => void; generation: number; since: number; warned: boolean } | undefined;
  /** While reading is paused: looks again every second, and says so in the log after 30 s. */
  private pauseTimer: NodeJS.Timeout | undefined;
  /** QoS 1 ids whose PUBACK was written on this connection / on an earlier one. */
  private ackedThisConnection = new Set<number>(); // at most 65,535 packet ids
  private readonly ackedEarlier = new Set<number>();
  /** Ids committed whose ack never went out (the connection closed first). */
  private readonly neverAcked = new Set<number>();
  private originalSend: SendPacket | undefined;
  private stopping = false;
  /** Set by stop() once its last commit is done. */
  private stopped = false;
  private fullSince: number | undefined;
  private connectedState = false;
  private reconnectDelayMs = 1000;

  constructor(private readonly deps: MqttSourceDeps) {
    this.subscriptions = deps.subscriptions;
    this.router = new Router(deps.subscriptions);
  }

  get connected(): boolean {
    return this.connectedState;
  }

  /** Messages received and kept in memory until they are stored and on disk (at most MAX_HELD). */
  get held(): number {
    return Math.max(this.batch.length, this.awaitingCommit.size);
  }

  /** True while stop-ingest holds messages back because the outbox is full. */
  get holding(): boolean {
    return this.fullSince !== undefined;
  }

  start(): void {
    const { mqtt: cfg, logger } = this.deps;
    const v5 = cfg.protocolVersion === 5;
    // QoS 2: mqtt.js stores the PUBLISH and sends PUBREC once stored; after PUBREC the broker
    // will never send it again, so that is the moment the event must be committed. PUBREL
    // proves the broker has our PUBREC, so its redelivery guard can go.
    const incomingStore = hookedIncomingStore({
      beforeQos2Stored: (packet) => this.enqueue(packet as IPublishPacket),
      onPubrel: (messageId) => this.deps.outbox.markAcked(messageId),
    });
    const options: IClientOptions = {
      clientId: cfg.clientId,
      clean: false,
      protocolVersion: cfg.protocolVersion,
      keepalive: cfg.keepaliveSeconds,
      reconnectPeriod: this.reconnectDelayMs,
      connectTimeout: 10_000,
      manualConnect: true,
      incomingStore,
      resubscribe: false,
      // mqtt-packet's default cache pre-builds a Buffer for each of the 65,536 packet ids:
      // about 10 MB of RSS on a gateway, for a saving of one 2-byte allocation per packet.
      writeCache: false,
      // mqtt.js logs each packet through the `debug` package, whose logger gathers its
      // arguments into an array even when it is off: 4 % of what the agent allocates under
      // load (BENCHMARKS.md). A no-op, unless DEBUG asks for mqtt.js's log.
      ...(mqttDebugWanted() ? {} : { log: noLog }),
      ...(v5
        ? { properties: { sessionExpiryInterval: cfg.sessionExpirySeconds, receiveMaximum: RECEIVE_MAXIMUM } }
        : {}),
      ...(cfg.username !== undefined ? { username: cfg.username } : {}),
      ...(cfg.password !== undefined ? { password: cfg.password } : {}),
      ...(cfg.tls ? tlsOptions(cfg.tls) : {}),
    };
    const client = connectMqtt(this.deps.url, options);
    this.client = client;
    // Handlers go on before connecting: messages queued in the session arrive with CONNACK.
    client.handleMessage = (packet, cb) => {
      // QoS 2 reaches handleMessage only with PUBREL, after its event was committed at PUBLISH
      // time (see incomingStore above).
      if (packet.qos !== 2) this.enqueue(packet);
      // QoS 0 goes on here; QoS 1 and 2 go on once their PUBACK/PUBREC is handed over below.
      if (packet.qos === 0) this.readNextOrPause(cb);
      else cb();
    };
    this.originalSend = interceptSend(client, (packet, send, cb) => {
      if (
        (packet.cmd === 'puback' || packet.cmd === 'pubrec') &&
        this.awaitingCommit.has(packet.messageId!)
      ) {
        this.heldAcks.set(packet.messageId!, { packet, generation: this.generation });
        this.readNextOrPause(cb);
        return;
      }
      send(packet, cb);
    });
    client.on('connect', (connack) => {
      this.generation++;
      this.reconnectDelayMs = 1000;
      setReconnectPeriod(client, this.reconnectDelayMs);
      if (!connack.sessionPresent) {
        // The guards only matter for DUP re-sends, which a broker without our session never
        // sends: when the disk refuses the delete, the stale guards are harmless until then.
        try {
          this.deps.outbox.clearInflight();
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'could not clear the redelivery guards');
        }
      }
      this.setConnected(true);
      logger.info(
        { url: redactUrl(this.deps.url), sessionPresent: connack.sessionPresent },
        'connected to the MQTT broker',
      );
      this.subscribe(this.subscriptions);
    });
    client.on('close', () => {
      // Acks held for this connection are dropped: the broker sends those packets again and
      // the redelivery is recognised (see OutboxStore.isRedelivery).
      this.generation++;
      this.clearPaused(); // that connection's input stream is gone
      for (const id of this.ackedThisConnection) this.ackedEarlier.add(id);
      this.ackedThisConnection.clear();
      if (this.connectedState && !this.stopping)
        logger.warn('MQTT connection closed; reconnecting with backoff');
      this.setConnected(false);
      const cap = cfg.reconnectMaxSeconds * 1000;
      this.reconnectDelayMs = Math.min(cap, this.reconnectDelayMs * 2);
      setReconnectPeriod(client, Math.round(this.reconnectDelayMs * (0.5 + Math.random() / 2)));
    });
    client.on('error', (err) => {
      logger.warn({ err: err.message, code: (err as { code?: unknown }).code }, 'MQTT error');
    });
    client.connect();
  }

  private setConnected(value: boolean): void {
    if (this.connectedState === value) return;
    this.connectedState = value;
    this.deps.onConnectionChange?.(value);
  }

  private subscribe(subs: readonly SubscriptionConfig[]): void {
    if (!this.client || subs.length === 0) return;
    const map: Record<string, { qos: 0 | 1 | 2 }> = {};
    for (const s of subs) map[s.topic] = { qos: s.qos };
    this.client.subscribe(map, (err, granted) => {
      if (err) {
        this.deps.logger.error({ err: err.message }, 'MQTT subscribe failed');
        return;
      }
      for (const g of granted ?? []) {
        if (g.qos === 128) this.deps.logger.error({ topic: g.topic }, 'the broker refused the subscription');
      }
    });
  }

  /** Publishes on the agent's connection (Sparkplug B Rebirth requests); false when not connected. */
  publish(topic: string, payload: Buffer, qos: 0 | 1 | 2): boolean {
    if (!this.client?.connected || this.stopping) return false;
    this.client.publish(topic, payload, { qos }, (err) => {
      if (err) this.deps.logger.warn({ topic, err: err.message }, 'MQTT publish failed');
    });
    return true;
  }

  /** Applies a new list of subscriptions without reconnecting. */
  updateSubscriptions(subs: readonly SubscriptionConfig[]): void {
    const removed = this.subscriptions
      .filter((old) => !subs.some((s) => s.topic === old.topic))
      .map((s) => s.topic);
    this.subscriptions = subs;
    this.router = new Router(subs);
    if (this.client?.connected) {
      if (removed.length > 0) this.client.unsubscribe(removed);
      this.subscribe(subs);
    }
  }

  private enqueue(packet: IPublishPacket): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const topic = packet.topic;
    const routed: Omit<Routed, 'subscription'> & { subscription?: number } = this.router.route(
      topic,
      payload,
    ) ?? {
      type: topic.split('/').filter(Boolean).join('.'),
      data: { kind: 'binary' as const },
    };
    const event: NewEvent = {
      topic,
      payload,
      receivedAt: this.deps.clock.now(),
      type: routed.type,
      data: routed.data,
    };
    if (routed.subscription !== undefined) event.subscription = routed.subscription;
    if (routed.rejected !== undefined) {
      event.rejected = routed.rejected;
      this.deps.logger.warn(
        { topic, reason: routed.rejected, bytes: payload.length },
        'payload rejected; kept as a rejected event',
      );
    }
    // A reconnected broker re-sends unacknowledged packets first (MQTT 3.1.1 §4.4, MQTT 5 §4.9),
    // with DUP set; Mosquitto restarted from its persistence file re-sends them without DUP. So
    // a plain packet with the id of one acked on an earlier connection may still be a re-send:
    // it does not end that phase. It is stored as new all the same (a duplicate at worst, never
    // a loss: a new message may reuse the id with the same content). The first other new
    // packet means no earlier PUBACK is still in doubt.
    const ackedBefore = packet.qos === 1 && this.ackedEarlier.has(packet.messageId!);
    if (
      packet.qos === 1 &&
      !packet.dup &&
      !ackedBefore &&
      this.ackedEarlier.size > 0 &&
      !this.neverAcked.has(packet.messageId!)
    ) {
      for (const id of this.ackedEarlier) this.deps.outbox.markAcked(id);
      this.ackedEarlier.clear();
    }
    let messageId: number | undefined;
    if (packet.qos > 0 && packet.messageId !== undefined) {
      messageId = packet.messageId;
      // An id we never acked cannot have been reused by the broker: compare it like a DUP.
      const resend = packet.dup || this.neverAcked.delete(messageId);
      event.mqtt = { messageId, qos: packet.qos as 1 | 2, dup: resend };
      this.awaitingCommit.set(messageId, this.generation);
    }
    this.batch.push({ event, messageId, generation: this.generation });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.commitScheduled || this.retryTimer) return;
    this.commitScheduled = true;
    // setImmediate runs after every packet already parsed from the socket has been handled, so
    // one commit covers all of them.
    setImmediate(() => this.commitBatch());
  }

  /** Commits the gathered messages in one transaction, then releases their acks. */
  commitBatch(): void {
    this.commitScheduled = false;
    if (this.batch.length === 0 || this.stopped) return;
    // No cap on the group: measured, splitting a flat-out burst into commits of 500 cost a
    // quarter of the delivery throughput (more fsyncs, more wake-ups; BENCHMARKS.md).
    const items = this.batch;
    this.batch = [];
    let accepted = 0;
    let result: AppendResult;
    try {
      result = this.deps.outbox.append(items.map((i) => i.event));
      // The disk is full or failing: nothing was stored; the outbox's disk guard has said so
      // once. Hold every ack and try again.
      if (result.disk !== undefined) {
        this.holdBack(items, DISK_RETRY_MS);
        return;
      }
      accepted = result.accepted;
    } catch (err) {
      this.deps.logger.error(
        { err: (err as Error).message },
        'could not store messages; not acking them, retrying in 1 s',
      );
      this.holdBack(items, 1000);
      return;
    }
    const done = items.slice(0, accepted);
    // Acks go out once the commit is on disk; the event loop delivers meanwhile.
    this.deps.outbox.afterDurable(() => {
      for (const item of done)
        if (item.messageId !== undefined)
          this.release(item.messageId, item.event.mqtt?.qos === 1, item.generation);
      this.resumeRead();
    });
    if (accepted < items.length && result.limited) {
      // The disk is short of room: the rest go in small groups, one after another.
      this.holdBack(items.slice(accepted), 0);
      return;
    }
    if (accepted < items.length) {
      if (this.fullSince === undefined) {
        this.fullSince = this.deps.clock.now();
        this.deps.logger.warn(
          { held: items.length - accepted },
          'outbox full (storage.whenFull = stop-ingest): not acking; the broker holds new messages',
        );
      }
      this.holdBack(items.slice(accepted), 500);
      return;
    }
    if (this.fullSince !== undefined) {
      this.deps.logger.info('outbox has room again: ingest resumed');
      this.fullSince = undefined;
    }
  }

  /** Lets mqtt.js parse the next packet now, or once enough of those in memory are on disk. */
  private readNextOrPause(next: (() => void) | undefined): void {
    if (!next) return;
    if (this.held < MAX_HELD) {
      next();
      return;
    }
    this.pausedRead = { next, generation: this.generation, since: this.deps.clock.now(), warned: false };
    this.pauseTimer ??= setInterval(() => this.checkPaused(), 1000);
    this.pauseTimer.unref();
  }

  private resumeRead(): void {
    const p = this.pausedRead;
    if (!p || this.held >= RESUME_AT) return;
    this.clearPaused();
    if (p.generation === this.generation && !this.stopping) p.next();
  }

  private checkPaused(): void {
    const p = this.pausedRead;
    if (!p) {
      this.clearPaused();
      return;
    }
    this.resumeRead();
    if (
      this.pausedRead &&
      !p.warned &&
      this.deps.clock.now() - p.since > 30_000 &&
      this.fullSince === undefined
    ) {
      p.warned = true;
      this.deps.logger.warn(
        { held: this.held },
        'ingest paused for 30 s: the messages received are not yet on disk; the broker keeps the rest',
      );
    }
  }

  private clearPaused(): void {
    this.pausedRead = undefined;
    if (this.pauseTimer) clearInterval(this.pauseTimer);
    this.pauseTimer = undefined;
  }

  private holdBack(items: Pending[], delayMs: number): void {
    this.batch = items.concat(this.batch);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.commitBatch();
    }, delayMs);
  }

  private release(messageId: number, qos1: boolean, generation: number): void {
    // The same packet sent again on a newer connection may wait for a commit of its own: its
    // place in awaitingCommit and its held ack are its own, not this copy's.
    if (this.awaitingCommit.get(messageId) === generation) this.awaitingCommit.delete(messageId);
    const entry = this.heldAcks.get(messageId);
    const held = entry !== undefined && entry.generation <= generation ? entry : undefined;
    if (held) this.heldAcks.delete(messageId);
    if (
      generation !== this.generation ||
      !this.client?.connected ||
      (held && held.generation !== this.generation)
    ) {
      // Its connection is gone before the ack went out: the broker still owns this id and
      // will send the packet again, with or without DUP (Mosquitto restored from its
      // persistence file sends it plain). That resend is this message for certain.
      this.neverAcked.add(messageId);
      return;
    }
    if (!held) return; // the ack has not been asked for yet: it will pass straight through
    this.originalSend!(held.packet);
    // QoS 1: a PUBACK written may still be lost with the connection; its guard stays until the
    // next connection shows the broker has re-sent what it had not seen acked (see enqueue).
    if (qos1) this.ackedThisConnection.add(messageId);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const parked = this.pausedRead !== undefined;
    this.clearPaused();
    const client = this.client;
    if (!client) return;
    // Commit what arrived (and ack it) before leaving; anything not committed stays unacked
    // and the broker keeps it for the next start.
    try {
      this.commitBatch();
    } catch {
      /* logged in commitBatch */
    }
    // Nothing may touch the outbox after this: it closes right after ingest stops.
    this.stopped = true;
    // The acks of that last commit wait for its sync (bounded: a disk that hangs keeps them,
    // and the broker re-sends those messages at the next start).
    await Promise.race([
      this.deps.outbox.durableIdle(),
      new Promise((resolve) => setTimeout(resolve, STOP_SYNC_WAIT_MS).unref()),
    ]);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // A parked socket (readNextOrPause) is never read to its end, so a graceful end would wait
    // for its close for ever: it is closed at once instead (no DISCONNECT; the session stays).
    const force = parked || this.pausedRead !== undefined;
    this.clearPaused();
    await new Promise<void>((resolve) => client.end(force, {}, () => resolve()));
    this.setConnected(false);
  }
}

function noLog(): void {}

/** `DEBUG=mqttjs*` (or `*`) turns mqtt.js's own log on, as its README says. */
function mqttDebugWanted(): boolean {
  const debug = process.env.DEBUG ?? '';
  return debug.includes('mqttjs') || debug.split(/[\s,]+/).includes('*');
}

function tlsOptions(tls: NonNullable<Config['mqtt']['tls']>): Partial<IClientOptions> {
  return {
    ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key ? { key: readFileSync(tls.key) } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
