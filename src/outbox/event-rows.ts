import type { Db } from './open-db.js';
import type { Ledger } from './ledger.js';
import { EventIdSource } from './event-id.js';
import { typeMatcher } from './type-match.js';
import { DELIVERY_OVERHEAD, EVENT_OVERHEAD } from './row-costs.js';
import type { NewEvent, OutboxStoreDeps, RouteTarget } from './outbox-types.js';

export interface EventRowsDeps {
  db: Db;
  ledger: Ledger;
  agentId: string;
  endpoints: readonly RouteTarget[];
  /** The storage settings as they are now (a reloaded config changes them). */
  storage: () => OutboxStoreDeps['storage'];
}

/** An endpoint new events may be routed to, with its type filter. */
export interface Route {
  id: string;
  match: (type: string) => boolean;
}

export type BuiltRow = ReturnType<EventRows['buildRow']>;

/**
 * The rows of a new event: its webhook body (README, "Webhook format") built once, the endpoints
 * it is routed to, what it costs against storage.maxBytes, and its writing with its deliveries.
 */
export class EventRows {
  private readonly ledger: Ledger;
  private readonly storage: () => OutboxStoreDeps['storage'];
  private readonly agentJson: string;
  private readonly eventIds = new EventIdSource();
  private routes: Route[] = [];
  private readonly stmt;

  constructor(deps: EventRowsDeps) {
    this.ledger = deps.ledger;
    this.storage = deps.storage;
    this.agentJson = JSON.stringify(deps.agentId);
    this.setEndpoints(deps.endpoints);
    const db = deps.db;
    this.stmt = {
      insertEvent: db.prepare(
        `INSERT INTO events (seq, id, type, topic, received_at, state, remaining, settled_at, body, payload, reject_reason, bytes)
         VALUES (@seq, @id, @type, @topic, @receivedAt, @state, @remaining, @settledAt, @body, @payload, @rejectReason, @bytes)`,
      ),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (endpoint_id, event_seq, status, updated_at) VALUES (?, ?, 'pending', ?)`,
      ),
      addEventBytes: db.prepare(`UPDATE events SET bytes = bytes + ? WHERE seq = ?`),
    };
  }

  /** Which endpoints new events are routed to (type filters); changes apply to new events. */
  setEndpoints(endpoints: readonly RouteTarget[]): void {
    this.routes = endpoints.map((ep) => ({ id: ep.id, match: typeMatcher(ep.types) }));
  }

  /** The row of a new event, not yet written. */
  buildRow(ev: NewEvent, seq: number) {
    const id = this.eventIds.next(ev.receivedAt);
    let data: string;
    let extra = '';
    if (ev.rejected === undefined && ev.data.kind === 'json') data = ev.data.json;
    else if (ev.rejected === undefined && ev.data.kind === 'text') data = JSON.stringify(ev.data.text);
    else {
      data = JSON.stringify(ev.payload.toString('base64'));
      extra = ',"encoding":"base64"';
    }
    const body =
      `{"id":"${id}","type":${JSON.stringify(ev.type)},"timestamp":"${new Date(ev.receivedAt).toISOString()}",` +
      `"agent":${this.agentJson},"seq":${seq},"topic":${JSON.stringify(ev.topic)},"data":${data}${extra}}`;
    const targets = ev.rejected === undefined ? this.routesFor(ev.type) : [];
    // The raw payload is kept only to re-parse a rejected event.
    const keepPayload = ev.rejected !== undefined;
    const bytes =
      EVENT_OVERHEAD +
      Buffer.byteLength(body) +
      (keepPayload ? ev.payload.length : 0) +
      targets.length * DELIVERY_OVERHEAD;
    const maxBytes = this.storage().maxBytes;
    if (bytes > maxBytes) return this.oversizeRow(ev, seq, id, bytes, maxBytes);
    return { ev, seq, id, body, targets, bytes, keepPayload };
  }

  /** Endpoints (of the routes) that take an event type. */
  routesFor(type: string): Route[] {
    return this.routes.filter((r) => r.match(type));
  }

  /**
   * An event that could never fit in storage.maxBytes, even in an empty outbox: waiting for
   * room would hold the MQTT session forever. It is kept as a rejected event without its
   * payload, so it is counted and visible, and ingest goes on.
   */
  private oversizeRow(ev: NewEvent, seq: number, id: string, bytes: number, maxBytes: number) {
    const rejected = `event of ${bytes} bytes does not fit storage.maxBytes (${maxBytes}); payload not kept`;
    const body =
      `{"id":"${id}","type":${JSON.stringify(ev.type)},"timestamp":"${new Date(ev.receivedAt).toISOString()}",` +
      `"agent":${this.agentJson},"seq":${seq},"topic":${JSON.stringify(ev.topic)},"data":null}`;
    const small = { ...ev, rejected, payload: Buffer.alloc(0) };
    return {
      ev: small,
      seq,
      id,
      body,
      targets: [] as Route[],
      bytes: EVENT_OVERHEAD + Buffer.byteLength(body),
      keepPayload: false,
    };
  }

  /** Inside a transaction: writes a built row and its deliveries. */
  insertRow(row: BuiltRow, now: number): void {
    const { ev, seq, id, body, targets, bytes, keepPayload } = row;
    const state = ev.rejected !== undefined ? 'rejected' : targets.length === 0 ? 'unrouted' : 'pending';
    this.stmt.insertEvent.run({
      seq,
      id,
      type: ev.type,
      topic: ev.topic,
      receivedAt: ev.receivedAt,
      state,
      remaining: targets.length,
      settledAt: state === 'pending' ? null : now,
      body,
      payload: keepPayload ? ev.payload : null,
      rejectReason: ev.rejected ?? null,
      bytes,
    });
    for (const t of targets) this.stmt.insertDelivery.run(t.id, seq, now);
    this.ledger.bump('received', 1);
    if (state === 'rejected') this.ledger.bump('rejected', 1);
    this.ledger.addBytes(bytes);
    if (targets.length > 0) this.ledger.noteAppended();
  }

  /** Inside a transaction: a new pending delivery of a stored event. */
  insertDelivery(endpointId: string, seq: number, now: number): void {
    this.stmt.insertDelivery.run(endpointId, seq, now);
    this.addEventBytes(DELIVERY_OVERHEAD, seq);
  }

  /** Inside a transaction: bytes added to (or taken from) an event, and to the outbox's total. */
  addEventBytes(n: number, seq: number): void {
    this.stmt.addEventBytes.run(n, seq);
    this.ledger.addBytes(n);
  }
}
