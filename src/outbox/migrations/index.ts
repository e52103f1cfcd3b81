/**
 * Numbered, append-only migrations (the Signal-Desktop habit): entry N moves a database from
 * `user_version` N-1 to N. Never edit a shipped entry; add a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, deliveries, attempts, counters, mqtt inflight',
    sql: `
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        topic TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        remaining INTEGER NOT NULL,
        settled_at INTEGER,
        body TEXT NOT NULL,
        payload BLOB,
        reject_reason TEXT,
        bytes INTEGER NOT NULL
      );
      CREATE INDEX events_state ON events(state, seq);
      CREATE INDEX events_received ON events(received_at);

      CREATE TABLE deliveries (
        endpoint_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        message_failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, event_seq)
      ) WITHOUT ROWID;
      CREATE INDEX deliveries_status ON deliveries(endpoint_id, status, event_seq);
      CREATE INDEX deliveries_event ON deliveries(event_seq);

      CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        endpoint_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        status INTEGER,
        duration_ms INTEGER NOT NULL,
        error TEXT,
        response TEXT
      );
      CREATE INDEX attempts_delivery ON attempts(endpoint_id, event_seq, id);

      CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- MQTT packet ids whose event is committed but whose PUBACK/PUBREC may not have reached
      -- the broker: a redelivery of the same packet after a crash is recognised, not stored twice.
      CREATE TABLE mqtt_inflight (
        message_id INTEGER PRIMARY KEY,
        event_seq INTEGER NOT NULL,
        qos INTEGER NOT NULL,
        topic TEXT NOT NULL,
        payload_hash BLOB NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'secret_expiry: when a rotated-out signing secret stops signing',
    sql: `
      -- Rotation keeps the previous secret signing beside the new one for a window (README, "Features for real deployments").
      -- The secrets themselves live in the config file; this only records until when each
      -- rotated-out one signs, by a SHA-256 of the secret, so the database never holds a secret.
      CREATE TABLE secret_expiry (
        endpoint_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        -- and, beyond expires_at, until every event received before the rotation (seq up to
        -- this) has been delivered to the endpoint: a gateway offline for longer than the
        -- window still signs its backlog with the secret the receiver had then.
        until_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (endpoint_id, secret_hash)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'deliveries.last_duration_ms: a first-try success needs no attempts row',
    sql: `
      -- Most deliveries succeed at their first attempt. Writing an attempts row (and its bytes)
      -- for each doubled the writes per delivered event (BENCHMARKS.md); the deliveries row now keeps
      -- what that row said (status, time, duration), and the log shows it as the one attempt.
      ALTER TABLE deliveries ADD COLUMN last_duration_ms INTEGER;
    `,
  },
  {
    version: 4,
    name: 'step_state, step_counts, step_meta: edge-processing state beside the events',
    sql: `
      -- Edge-processing state (README, "Edge processing") changes in the transaction that stores
      -- the events of the message that changed it, so a kill -9 can neither lose an acked
      -- message's contribution nor count it twice. One row per step and key: the last reported
      -- value (deadband), the open interval and held message (throttle), the open window.
      -- scope names the subscription's topic filter and the step's place and kind.
      CREATE TABLE step_state (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        state TEXT NOT NULL,
        due_at INTEGER,
        used_at INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      ) WITHOUT ROWID;
      CREATE INDEX step_state_due ON step_state(due_at) WHERE due_at IS NOT NULL;
      CREATE INDEX step_state_used ON step_state(used_at);

      -- Per subscription (by topic filter): messages in = reported + filtered + held +
      -- rejected; events stored for it (at once or later by a timer: emitted), keys evicted.
      CREATE TABLE step_counts (
        subscription TEXT PRIMARY KEY,
        messages INTEGER NOT NULL DEFAULT 0,
        reported INTEGER NOT NULL DEFAULT 0,
        filtered INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0,
        events INTEGER NOT NULL DEFAULT 0,
        emitted INTEGER NOT NULL DEFAULT 0,
        evicted INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;

      -- keys: rows in step_state, kept here so the maxKeys check needs no count(*).
      CREATE TABLE step_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    name: 'sparkplug_nodes, sparkplug_devices, sparkplug_metrics: what Sparkplug B BIRTHs said',
    sql: `
      -- Sparkplug B (README, "Sparkplug B input"): DATA messages name metrics by an alias that
      -- an earlier NBIRTH/DBIRTH defined. Kept here, written in the BIRTH's own transaction, so
      -- a DATA after a restart still resolves. device_id '' is the edge node itself.
      CREATE TABLE sparkplug_nodes (
        group_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        online INTEGER NOT NULL,
        bd_seq INTEGER,
        last_seq INTEGER,
        birth_at INTEGER,
        death_at INTEGER,
        PRIMARY KEY (group_id, node_id)
      ) WITHOUT ROWID;
      CREATE TABLE sparkplug_devices (
        group_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        online INTEGER NOT NULL,
        birth_at INTEGER,
        death_at INTEGER,
        PRIMARY KEY (group_id, node_id, device_id)
      ) WITHOUT ROWID;
      CREATE TABLE sparkplug_metrics (
        group_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        name TEXT NOT NULL,
        alias INTEGER,
        datatype INTEGER,
        PRIMARY KEY (group_id, node_id, device_id, name)
      ) WITHOUT ROWID;
      CREATE INDEX sparkplug_metrics_alias ON sparkplug_metrics(group_id, node_id, alias)
        WHERE alias IS NOT NULL;
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS.length === 0 ? 0 : MIGRATIONS[MIGRATIONS.length - 1]!.version;
