import type { SubscriptionConfig } from '../../src/config/schema.js';
import { Router } from '../../src/ingest/route.js';
import { SparkplugStage } from '../../src/ingest/sparkplug/sparkplug-stage.js';
import { silentLogger } from '../../src/log.js';
import { chainStages, type IngestStage } from '../../src/outbox/ingest-stage.js';
import { clock, open, type Opened } from '../outbox/store-fixture.js';
import { DT, encode } from './sparkplug-fixture.js';

/**
 * The Sparkplug B stage on a real outbox (real SQLite file, see store-fixture.ts): messages go
 * in as MqttSource hands them over, and come out as the stored event's data.
 */

export const SUBS: SubscriptionConfig[] = [
  { topic: 'spBv1.0/PASSIVE/#', qos: 1, payload: 'sparkplug' },
  {
    topic: 'spBv1.0/#',
    qos: 1,
    type: 'sparkplug.{1}',
    payload: 'sparkplug',
    sparkplug: { requestRebirth: true },
  },
  { topic: 'json/#', qos: 1, payload: 'json' },
];
const router = new Router(SUBS);

export interface Rig extends Opened {
  stage: SparkplugStage;
  sent: { topic: string; payload: Buffer }[];
}

export function rig(o: Opened = open(), extra?: IngestStage): Rig {
  const sent: Rig['sent'] = [];
  const stage = new SparkplugStage({
    db: o.db,
    logger: silentLogger(),
    subscriptions: () => SUBS,
    publish: (topic, payload) => {
      sent.push({ topic, payload });
      return true;
    },
  });
  o.store.setIngestStage(chainStages([stage, extra]));
  return { ...o, stage, sent };
}

export interface Stored {
  state: string;
  reason: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: the tests read the decoded event JSON freely
  data: Record<string, any>;
}

export function put(r: Opened, topic: string, payload: Buffer): Stored {
  const routed = router.route(topic, payload)!;
  r.store.append([
    {
      topic,
      payload,
      receivedAt: clock.now(),
      type: routed.type,
      data: routed.data,
      subscription: routed.subscription,
      ...(routed.rejected !== undefined ? { rejected: routed.rejected } : {}),
    },
  ]);
  const row = r.db
    .prepare('SELECT state, reject_reason AS reason, body FROM events ORDER BY seq DESC LIMIT 1')
    .get() as { state: string; reason: string | null; body: string };
  return { state: row.state, reason: row.reason, data: JSON.parse(row.body).data };
}

export const NODE = 'spBv1.0/G1/NBIRTH/E1';
export const nbirth = (bdSeq = 0, metrics: Record<string, unknown>[] = []) =>
  encode({
    timestamp: 1700000000000,
    seq: 0,
    metrics: [{ name: 'bdSeq', datatype: DT.Int64, longValue: bdSeq }, ...metrics],
  });
