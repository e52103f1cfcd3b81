import type { Db } from '../../outbox/open-db.js';

/**
 * What Sparkplug B BIRTH and DEATH messages said, in SQLite (tables of migration 4): aliases and
 * datatypes per group and edge node, each node's bdSeq and last seq, who is online. Every write
 * runs on the outbox's connection inside the ingest transaction of the message that caused it,
 * so it commits or rolls back with that message's event; nothing is cached in memory.
 */

export interface NodeRow {
  online: boolean;
  bdSeq: number | null;
  lastSeq: number | null;
  birthAt: number | null;
}

export interface LearntMetric {
  name: string;
  alias: number | null;
  datatype: number | null;
}

export interface SparkplugNodeStatus {
  group: string;
  node: string;
  online: boolean;
  birthAt: number | null;
  devices: { device: string; online: boolean; birthAt: number | null }[];
}

/** device_id of the edge node's own metrics. */
const NODE = '';

export class SparkplugState {
  private readonly stmt;

  constructor(db: Db) {
    this.stmt = {
      node: db.prepare(
        `SELECT online, bd_seq AS bdSeq, last_seq AS lastSeq, birth_at AS birthAt
         FROM sparkplug_nodes WHERE group_id = ? AND node_id = ?`,
      ),
      nodeBirth: db.prepare(
        `INSERT INTO sparkplug_nodes (group_id, node_id, online, bd_seq, last_seq, birth_at)
         VALUES (@group, @node, 1, @bdSeq, @seq, @now)
         ON CONFLICT (group_id, node_id) DO UPDATE
         SET online = 1, bd_seq = @bdSeq, last_seq = @seq, birth_at = @now`,
      ),
      ensureNode: db.prepare(
        `INSERT INTO sparkplug_nodes (group_id, node_id, online) VALUES (?, ?, 0)
         ON CONFLICT (group_id, node_id) DO NOTHING`,
      ),
      setSeq: db.prepare('UPDATE sparkplug_nodes SET last_seq = ? WHERE group_id = ? AND node_id = ?'),
      nodeDeath: db.prepare(
        'UPDATE sparkplug_nodes SET online = 0, death_at = ? WHERE group_id = ? AND node_id = ?',
      ),
      onlineDevices: db
        .prepare(
          `SELECT device_id FROM sparkplug_devices WHERE group_id = ? AND node_id = ? AND online = 1
           ORDER BY device_id`,
        )
        .pluck(),
      devicesOffline: db.prepare(
        `UPDATE sparkplug_devices SET online = 0, death_at = @now
         WHERE group_id = @group AND node_id = @node AND online = 1`,
      ),
      deviceBirth: db.prepare(
        `INSERT INTO sparkplug_devices (group_id, node_id, device_id, online, birth_at)
         VALUES (@group, @node, @device, 1, @now)
         ON CONFLICT (group_id, node_id, device_id) DO UPDATE SET online = 1, birth_at = @now`,
      ),
      deviceDeath: db.prepare(
        `UPDATE sparkplug_devices SET online = 0, death_at = @now
         WHERE group_id = @group AND node_id = @node AND device_id = @device`,
      ),
      forgetNode: db.prepare('DELETE FROM sparkplug_metrics WHERE group_id = ? AND node_id = ?'),
      forgetDevice: db.prepare(
        'DELETE FROM sparkplug_metrics WHERE group_id = ? AND node_id = ? AND device_id = ?',
      ),
      learn: db.prepare(
        `INSERT OR REPLACE INTO sparkplug_metrics (group_id, node_id, device_id, name, alias, datatype)
         VALUES (@group, @node, @device, @name, @alias, @datatype)`,
      ),
      byAlias: db.prepare(
        `SELECT name, datatype FROM sparkplug_metrics
         WHERE group_id = ? AND node_id = ? AND alias = ? LIMIT 1`,
      ),
      byName: db
        .prepare(
          `SELECT datatype FROM sparkplug_metrics
           WHERE group_id = ? AND node_id = ? AND device_id = ? AND name = ?`,
        )
        .pluck(),
      nodes: db.prepare(
        `SELECT group_id AS "group", node_id AS node, online, birth_at AS birthAt
         FROM sparkplug_nodes ORDER BY group_id, node_id`,
      ),
      devices: db.prepare(
        `SELECT group_id AS "group", node_id AS node, device_id AS device, online, birth_at AS birthAt
         FROM sparkplug_devices ORDER BY group_id, node_id, device_id`,
      ),
    };
  }

  node(group: string, node: string): NodeRow | undefined {
    const row = this.stmt.node.get(group, node) as
      | { online: number; bdSeq: number | null; lastSeq: number | null; birthAt: number | null }
      | undefined;
    return row && { ...row, online: row.online === 1 };
  }

  /** NBIRTH: a new session of the node. Its earlier aliases and its devices' births are void. */
  nodeBirth(group: string, node: string, bdSeq: number | null, seq: number | null, now: number): void {
    this.stmt.forgetNode.run(group, node);
    this.stmt.devicesOffline.run({ group, node, now });
    this.stmt.nodeBirth.run({ group, node, bdSeq, seq, now });
  }

  /** DBIRTH: the device's earlier aliases are replaced by what this one defines. */
  deviceBirth(group: string, node: string, device: string, now: number): void {
    this.stmt.forgetDevice.run(group, node, device);
    this.stmt.ensureNode.run(group, node);
    this.stmt.deviceBirth.run({ group, node, device, now });
  }

  learn(group: string, node: string, device: string | null, metrics: readonly LearntMetric[]): void {
    for (const m of metrics) this.stmt.learn.run({ group, node, device: device ?? NODE, ...m });
  }

  setSeq(group: string, node: string, seq: number): void {
    this.stmt.ensureNode.run(group, node);
    this.stmt.setSeq.run(seq, group, node);
  }

  /** A current NDEATH: the node and its devices go offline. Returns the devices that were online. */
  nodeDeath(group: string, node: string, now: number): string[] {
    const devices = this.stmt.onlineDevices.all(group, node) as string[];
    this.stmt.devicesOffline.run({ group, node, now });
    this.stmt.nodeDeath.run(now, group, node);
    return devices;
  }

  deviceDeath(group: string, node: string, device: string, now: number): void {
    this.stmt.deviceDeath.run({ group, node, device, now });
  }

  byAlias(group: string, node: string, alias: number): { name: string; datatype: number | null } | undefined {
    return this.stmt.byAlias.get(group, node, alias) as { name: string; datatype: number | null } | undefined;
  }

  datatypeByName(group: string, node: string, device: string | null, name: string): number | undefined {
    return (
      (this.stmt.byName.get(group, node, device ?? NODE, name) as number | null | undefined) ?? undefined
    );
  }

  /** Every edge node and device seen, online or not, with its last BIRTH time. */
  nodes(): SparkplugNodeStatus[] {
    type Row = { group: string; node: string; online: number; birthAt: number | null };
    const out = new Map<string, SparkplugNodeStatus>();
    for (const r of this.stmt.nodes.all() as Row[])
      out.set(`${r.group}/${r.node}`, { ...r, online: r.online === 1, devices: [] });
    for (const r of this.stmt.devices.all() as (Row & { device: string })[])
      out.get(`${r.group}/${r.node}`)?.devices.push({
        device: r.device,
        online: r.online === 1,
        birthAt: r.birthAt,
      });
    return [...out.values()];
  }
}
