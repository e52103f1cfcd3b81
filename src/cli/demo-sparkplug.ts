import mqtt, { type MqttClient } from 'mqtt';
import { payloadType } from '../ingest/sparkplug/sparkplug-schema.js';

/**
 * `edgehook demo --sparkplug`: one simulated Sparkplug B edge node beside the JSON sensors
 * (README, "Sparkplug B input"). It behaves as the specification asks of a real one: an NDEATH
 * as its MQTT will, NBIRTH and DBIRTH on every (re)connect with seq from 0, DDATA naming its
 * metrics by alias only and without datatypes, a Rebirth on request, an NDEATH when it stops.
 */

export const SPARKPLUG_GROUP = 'demo';
export const SPARKPLUG_NODE = 'line-1';
export const SPARKPLUG_DEVICE = 'press-1';

/** The subscription the demo adds for it: every Sparkplug message, decoded to JSON. */
export const SPARKPLUG_SUBSCRIPTION = {
  topic: 'spBv1.0/#',
  qos: 1,
  type: 'sparkplug.{1}',
  payload: 'sparkplug',
} as const;

const DT = { Int32: 3, Int64: 4, Double: 10, Boolean: 11 } as const;
const NODE_TOPIC = (type: string) => `spBv1.0/${SPARKPLUG_GROUP}/${type}/${SPARKPLUG_NODE}`;
const DEVICE_TOPIC = (type: string) => `${NODE_TOPIC(type)}/${SPARKPLUG_DEVICE}`;

function encode(payload: Record<string, unknown>): Buffer {
  const type = payloadType();
  return Buffer.from(type.encode(type.fromObject(payload)).finish());
}

export class DemoEdgeNode {
  private client: MqttClient | undefined;
  private seq = 0;
  private tick = 0;
  // bdSeq ties an NBIRTH to its session's will. mqtt.js reuses the will set at connect on every
  // reconnect, so it stays 0 and every NBIRTH carries the same.
  private readonly bdSeq = 0;

  async start(brokerUrl: string): Promise<void> {
    this.client = await mqtt.connectAsync(brokerUrl, {
      clientId: `edgehook-demo-sparkplug-${process.pid}`,
      reconnectPeriod: 1000,
      will: { topic: NODE_TOPIC('NDEATH'), payload: this.death(), qos: 1, retain: false },
    });
    this.client.on('message', (_topic, payload) => {
      try {
        const cmd = payloadType().toObject(payloadType().decode(payload)) as {
          metrics?: { name?: string; booleanValue?: boolean }[];
        };
        if (cmd.metrics?.some((m) => m.name === 'Node Control/Rebirth' && m.booleanValue)) this.births();
      } catch {
        // A command that does not decode is ignored, as an edge node would.
      }
    });
    this.client.on('connect', () => this.births());
    await this.client.subscribeAsync(NODE_TOPIC('NCMD'), { qos: 0 });
    this.births();
  }

  /** One DDATA of the device: aliases only, as real edge nodes send it. */
  publishData(): void {
    if (!this.client?.connected) return;
    this.tick++;
    const t = this.tick;
    this.client.publish(
      DEVICE_TOPIC('DDATA'),
      encode({
        timestamp: Date.now(),
        seq: this.nextSeq(),
        metrics: [
          { alias: 1, doubleValue: Math.round((68 + 4 * Math.sin(t / 10)) * 10) / 10 },
          { alias: 2, intValue: 40 + (t % 5) },
        ],
      }),
      { qos: 1 },
    );
  }

  /** A clean stop sends the NDEATH itself (the broker sends the will only on a lost connection). */
  async stop(): Promise<void> {
    const c = this.client;
    if (!c) return;
    if (c.connected)
      await c.publishAsync(NODE_TOPIC('NDEATH'), this.death(), { qos: 1 }).catch(() => undefined);
    await c.endAsync().catch(() => undefined);
  }

  private death(): Buffer {
    return encode({
      timestamp: Date.now(),
      metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: this.bdSeq }],
    });
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  private births(): void {
    const c = this.client;
    if (!c?.connected) return;
    this.seq = 0;
    const now = Date.now();
    c.publish(
      NODE_TOPIC('NBIRTH'),
      encode({
        timestamp: now,
        seq: this.nextSeq(),
        metrics: [
          { name: 'bdSeq', datatype: DT.Int64, longValue: this.bdSeq },
          { name: 'Node Control/Rebirth', datatype: DT.Boolean, booleanValue: false },
        ],
      }),
      { qos: 1 },
    );
    c.publish(
      DEVICE_TOPIC('DBIRTH'),
      encode({
        timestamp: now,
        seq: this.nextSeq(),
        metrics: [
          { name: 'Temperature', alias: 1, datatype: DT.Double, doubleValue: 68 },
          { name: 'Strokes per minute', alias: 2, datatype: DT.Int32, intValue: 40 },
        ],
      }),
      { qos: 1 },
    );
  }
}
