import type { SubscriptionConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { IngestStage, StageContext } from '../../outbox/ingest-stage.js';
import type { Db } from '../../outbox/open-db.js';
import type { NewEvent } from '../../outbox/outbox-store.js';
import {
  decodePayload,
  NAMESPACE,
  optionalNumber,
  parseTopic,
  SparkplugRejection,
  type SparkplugTopic,
} from './sparkplug-payload.js';
import { payloadType } from './sparkplug-schema.js';
import { type LearntMetric, SparkplugState } from './sparkplug-state.js';
import {
  DT,
  has,
  metricJson,
  plainMetricJson,
  type RawMetric,
  SparkplugValueError,
  toNumber,
} from './sparkplug-values.js';

/**
 * `payload: sparkplug` (README, "Sparkplug B input"): decodes spBv1.0 messages into JSON event
 * data inside the ingest transaction. BIRTHs teach aliases and datatypes, DATA messages are
 * resolved against them, DEATHs take nodes and devices offline; all of it in SQLite, in the
 * message's own savepoint, so a rolled-back message leaves no alias learnt.
 */

export interface SparkplugStageDeps {
  db: Db;
  logger: Logger;
  /** The running subscriptions (a live config edit replaces them); events carry their index. */
  subscriptions: () => readonly SubscriptionConfig[];
  /** Publishes on the agent's MQTT connection; false when it could not (not connected). */
  publish?: (topic: string, payload: Buffer) => boolean;
}

/** At most one Rebirth request per edge node in this time. */
export const REBIRTH_INTERVAL_MS = 60_000;

const REBIRTH_METRIC = 'Node Control/Rebirth';

export class SparkplugStage implements IngestStage {
  readonly state: SparkplugState;
  /** When a Rebirth request last went out, per node: set only after it was sent (after commit). */
  private readonly rebirthSentAt = new Map<string, number>();

  constructor(private readonly deps: SparkplugStageDeps) {
    this.state = new SparkplugState(deps.db);
  }

  process(message: NewEvent, ctx: StageContext): readonly NewEvent[] {
    if (message.rejected !== undefined || message.subscription === undefined) return [message];
    const sub = this.deps.subscriptions()[message.subscription];
    if (sub?.payload !== 'sparkplug') return [message];
    try {
      // A savepoint of its own: whatever ends a message as rejected also undoes its state writes.
      const data = this.deps.db.transaction(() => this.decode(message, sub, ctx))();
      return [{ ...message, data: { kind: 'json', json: JSON.stringify(data) } }];
    } catch (err) {
      // A database error rolls the commit back and ingest tries again. Anything else comes from
      // the message itself: retrying it would fail the same way and hold ingest forever.
      if (isSqliteError(err)) throw err;
      const reason =
        err instanceof SparkplugRejection || err instanceof SparkplugValueError
          ? err.message
          : `Sparkplug B payload could not be decoded: ${(err as Error)?.message ?? String(err)}`;
      this.deps.logger.warn(
        { topic: message.topic, reason, bytes: message.payload.length },
        'Sparkplug B payload rejected; kept as a rejected event',
      );
      return [{ ...message, data: { kind: 'binary' }, rejected: reason }];
    }
  }

  /** Reads state, builds the whole event, and only then writes state: a rejection writes nothing. */
  private decode(message: NewEvent, sub: SubscriptionConfig, ctx: StageContext): Record<string, unknown> {
    const state = stateMessage(message);
    if (state) return state;
    const t = parseTopic(message.topic);
    const p = decodePayload(message.payload);
    const { group, node, device, messageType } = t;
    const seq = optionalNumber(p, 'seq');
    const out: Record<string, unknown> = {
      messageType,
      group,
      node,
      device,
      timestamp: optionalNumber(p, 'timestamp'),
      seq,
    };
    const known = this.state.node(group, node);
    const metrics = p.metrics ?? [];
    const birth = messageType === 'NBIRTH' || messageType === 'DBIRTH';
    let unresolved = false;
    const json = metrics.map((m, i) => {
      const where = has(m, 'name')
        ? `metric ${m.name}`
        : has(m, 'alias')
          ? `metric with alias ${toNumber(m.alias!)}`
          : `metric ${i}`;
      if (birth || has(m, 'name')) {
        const datatype = has(m, 'datatype')
          ? m.datatype
          : has(m, 'name') && !birth
            ? this.state.datatypeByName(group, node, device, m.name!)
            : undefined;
        return metricJson(m, has(m, 'name') ? m.name! : null, datatype, where);
      }
      if (!has(m, 'alias')) return plainMetricJson(m, where);
      const learnt = this.state.byAlias(group, node, toNumber(m.alias!));
      if (!learnt) {
        unresolved = true;
        return { ...plainMetricJson(m, where), unresolved: true };
      }
      const datatype = has(m, 'datatype') ? m.datatype : (learnt.datatype ?? undefined);
      return metricJson(m, learnt.name, datatype, where);
    });

    // Commands come from a host application: they carry no seq of the node and change nothing.
    if (messageType === 'NCMD' || messageType === 'DCMD') return { ...out, metrics: json };

    if (seq !== null && messageType !== 'NBIRTH' && messageType !== 'NDEATH') {
      if (known?.lastSeq != null && seq !== (known.lastSeq + 1) % 256) out.seqGap = true;
      this.state.setSeq(group, node, seq);
    }
    switch (messageType) {
      case 'NBIRTH':
        this.state.nodeBirth(group, node, bdSeqOf(metrics), seq, ctx.now);
        this.state.learn(group, node, null, learnable(metrics));
        break;
      case 'DBIRTH':
        this.state.deviceBirth(group, node, device!, ctx.now);
        this.state.learn(group, node, device, learnable(metrics));
        break;
      case 'NDEATH': {
        const bdSeq = bdSeqOf(metrics);
        const stale = known?.bdSeq != null && bdSeq !== null && bdSeq !== known.bdSeq;
        out.bdSeq = bdSeq;
        out.stale = stale;
        if (!stale) out.offline = { node, devices: this.state.nodeDeath(group, node, ctx.now) };
        break;
      }
      case 'DDEATH':
        this.state.deviceDeath(group, node, device!, ctx.now);
        out.offline = { node, devices: [device] };
        break;
      default:
        // NDATA/DDATA: a node never born here, or an alias no BIRTH defined, asks for a Rebirth.
        if (sub.sparkplug?.requestRebirth && (unresolved || known?.birthAt == null))
          this.requestRebirth(t, ctx);
    }
    out.metrics = json;
    return out;
  }

  /**
   * Queues an NCMD `Node Control/Rebirth` for after the commit: nothing is published for a
   * message that is rolled back, and at most one request per node per REBIRTH_INTERVAL_MS.
   */
  private requestRebirth({ group, node }: SparkplugTopic, ctx: StageContext): void {
    const key = `${group}/${node}`;
    const due = () => {
      const last = this.rebirthSentAt.get(key);
      return last === undefined || ctx.now - last >= REBIRTH_INTERVAL_MS;
    };
    if (!due() || !this.deps.publish) return;
    const publish = this.deps.publish;
    ctx.afterCommit(() => {
      if (!due()) return; // another message of the same commit asked first
      const topic = `${NAMESPACE}/${group}/NCMD/${node}`;
      try {
        if (!publish(topic, rebirthPayload(ctx.now))) return;
        this.rebirthSentAt.set(key, ctx.now);
        this.deps.logger.info({ topic }, 'Sparkplug B: asked the edge node for a Rebirth');
      } catch (err) {
        this.deps.logger.warn({ topic, err: (err as Error).message }, 'Sparkplug B: Rebirth request failed');
      }
    });
  }
}

function isSqliteError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

export function rebirthPayload(now: number): Buffer {
  const msg = payloadType().fromObject({
    timestamp: now,
    metrics: [{ name: REBIRTH_METRIC, timestamp: now, datatype: DT.Boolean, booleanValue: true }],
  });
  return Buffer.from(payloadType().encode(msg).finish());
}

/** Named metrics of a BIRTH: their alias (if any) and datatype are what later DATA relies on. */
function learnable(metrics: readonly RawMetric[]): LearntMetric[] {
  return metrics
    .filter((m) => has(m, 'name'))
    .map((m) => ({
      name: m.name!,
      alias: has(m, 'alias') ? toNumber(m.alias!) : null,
      datatype: has(m, 'datatype') ? m.datatype! : null,
    }));
}

/** The `bdSeq` metric of an NBIRTH or NDEATH, as a number. */
function bdSeqOf(metrics: readonly RawMetric[]): number | null {
  const m = metrics.find((x) => x.name === 'bdSeq');
  if (!m) return null;
  if (m.value === 'longValue') return toNumber(m.longValue!);
  if (m.value === 'intValue') return m.intValue! >>> 0;
  return null;
}

/**
 * spBv1.0/STATE/<host>: a host application's own birth and death. Sparkplug 3.0 sends JSON
 * (`{"online":true,"timestamp":…}`), earlier versions the text ONLINE or OFFLINE.
 */
function stateMessage(message: NewEvent): Record<string, unknown> | undefined {
  const levels = message.topic.split('/');
  if (levels[0] !== NAMESPACE || levels[1] !== 'STATE') return undefined;
  if (levels.length !== 3 || !levels[2])
    throw new SparkplugRejection(`topic "${message.topic}" is not ${NAMESPACE}/STATE/HOST`);
  const text = message.payload.toString('utf8').trim();
  const base = { messageType: 'STATE', hostId: levels[2] };
  if (text === 'ONLINE' || text === 'OFFLINE') return { ...base, online: text === 'ONLINE', timestamp: null };
  try {
    const v = JSON.parse(text) as { online?: unknown; timestamp?: unknown };
    if (typeof v.online === 'boolean')
      return { ...base, online: v.online, timestamp: typeof v.timestamp === 'number' ? v.timestamp : null };
  } catch {
    /* reported below */
  }
  throw new SparkplugRejection(
    'STATE payload is neither {"online":…,"timestamp":…} nor the text ONLINE or OFFLINE',
  );
}
