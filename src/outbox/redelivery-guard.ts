import { hash } from 'node:crypto';
import type { Db } from './open-db.js';
import type { Ledger } from './ledger.js';
import type { NewEvent } from './outbox-store.js';

/**
 * Recognises an MQTT packet the broker sends again after a crash (or a lost connection)
 * between our commit and its PUBACK/PUBREC: same packet id, topic and payload as a committed
 * packet whose ack is still in doubt, with the DUP flag (docs/architecture.md, "Ingest").
 * The guard rows live in `mqtt_inflight` and change inside the ingest transaction; the ids
 * whose acks reached the broker are forgotten only once the transaction that deletes their
 * rows has committed.
 */
export class RedeliveryGuard {
  private readonly ledger: Ledger;
  private readonly ackedIds = new Set<number>();
  /** Packet ids whose guard the transaction running now replaced. */
  private replaced: number[] = [];
  private readonly stmt;

  constructor(db: Db, ledger: Ledger) {
    this.ledger = ledger;
    this.stmt = {
      get: db.prepare(`SELECT topic, payload_hash AS hash FROM mqtt_inflight WHERE message_id = ?`),
      put: db.prepare(
        `INSERT OR REPLACE INTO mqtt_inflight (message_id, event_seq, qos, topic, payload_hash) VALUES (?, ?, ?, ?, ?)`,
      ),
      del: db.prepare(`DELETE FROM mqtt_inflight WHERE message_id IN (SELECT value FROM json_each(?))`),
      clear: db.prepare(`DELETE FROM mqtt_inflight`),
    };
  }

  /** Brokers set DUP on every re-sent PUBLISH, QoS 1 and 2 alike; without it the packet is new. */
  isRedelivery(ev: NewEvent): boolean {
    const m = ev.mqtt;
    if (!m?.dup) return false;
    const row = this.stmt.get.get(m.messageId) as { topic: string; hash: Buffer } | undefined;
    return row !== undefined && row.topic === ev.topic && row.hash.equals(payloadHash(ev.payload));
  }

  /** Inside the ingest transaction, before its messages. */
  begin(): void {
    this.replaced = [];
  }

  /**
   * Inside the ingest transaction: the packet's guard, replacing that of an earlier packet with
   * the same id (an ack noted for that one must not delete this one's). `seq` is the first
   * event the message produced, 0 when it produced none (filtered out, held in state).
   */
  put(ev: NewEvent, seq: number): void {
    const m = ev.mqtt;
    if (!m) return;
    this.stmt.put.run(m.messageId, seq, m.qos, ev.topic, payloadHash(ev.payload));
    this.replaced.push(m.messageId);
  }

  /** A packet id whose ack reached the broker: its guard can go with the next commit. */
  markAcked(messageId: number): void {
    this.ackedIds.add(messageId);
  }

  /**
   * Inside the ingest transaction, after its messages: deletes the guards of acked packets
   * (only now: a packet of this batch may be a re-send of one whose guard goes). The ids are
   * forgotten once the transaction commits; rolled back, they are still there for the next.
   */
  deleteAcked(): void {
    if (this.ackedIds.size === 0) return;
    const acked = [...this.ackedIds];
    const replaced = new Set(this.replaced);
    const gone = acked.filter((id) => !replaced.has(id));
    if (gone.length > 0) this.stmt.del.run(JSON.stringify(gone));
    this.ledger.afterCommit(() => {
      for (const id of acked) this.ackedIds.delete(id);
    });
  }

  /** The broker has no session for us: nothing will be redelivered. */
  clear(): void {
    this.ledger.tx(() => {
      this.stmt.clear.run();
      const acked = [...this.ackedIds];
      this.ledger.afterCommit(() => {
        for (const id of acked) this.ackedIds.delete(id);
      });
    });
  }
}

/** What a redelivered MQTT packet is recognised by, beside its topic and packet id. */
function payloadHash(payload: Buffer): Buffer {
  return hash('sha256', payload, 'buffer');
}
