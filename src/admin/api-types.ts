/**
 * The admin API contract (README "Admin API"; docs/architecture.md "Contracts"): request and
 * response shapes shared by the server (src/admin/routes/*) and the UI (renderer/, which imports
 * these types only — never runtime code from src/). Changing a shape here changes both sides.
 *
 * The shapes are written out here rather than borrowed from the outbox's rows or the
 * dispatcher's state, so a change inside the agent cannot change the API without a change to
 * this file; the compiler checks that what the routes and the agent hand out fits them.
 *
 * Errors: every non-2xx JSON answer is ApiError. Validation errors (400) list every problem by
 * field path, in the same form as the config file's errors ("url", "retry.schedule[2]").
 */

/** An endpoint's delivery state: backing-off after failures, disabled by a 410 Gone, paused by an operator. */
export type EndpointStateName = 'healthy' | 'backing-off' | 'disabled' | 'paused';

/** The body format an endpoint pins (README "Payload formats and versioning"). */
export type PayloadFormat = 'edgehook/1' | 'cloudevents/1.0';

/** One endpoint as GET /api/status shows it. */
export interface EndpointStatusView {
  id: string;
  url: string;
  state: EndpointStateName;
  inFlight: number;
  consecutiveFailures: number;
  backoffUntil: number | null;
  lastError: string | null;
  lastStatus: number | null;
  /** strict ordering: the delivery holding the others back while it waits for its retry */
  blockedBy: { seq: number; id: string; nextAttemptAt: number } | null;
  /** nothing is sent while the system clock is implausible */
  heldByClock: boolean;
  /** deliveries waiting for this endpoint */
  pending: number;
}

/** The outbox's counters as GET /api/status shows them. */
export interface OutboxCountsView {
  received: number;
  pending: number;
  delivered: number;
  failed: number;
  rejected: number;
  dropped: number;
  expired: number;
  deleted: number;
  unrouted: number;
  /** Delivered events kept for the log that were removed early because the disk was full. */
  prunedForDisk: number;
  bytes: number;
  maxBytes: number;
  oldestPendingAt: number | null;
  oldestPendingAgeSeconds: number | null;
  /** "full" or "io-error" while ingest holds for the disk (README, "Guarantees"). */
  disk: DiskStatusView;
}

export interface DiskStatusView {
  state: 'ok' | 'full' | 'io-error';
  /** Why ingest holds: SQLite met a full disk, or less than storage.minFreeBytes is free. */
  reason: 'no-space' | 'min-free' | 'io-error' | null;
  /** Free bytes of the data directory's file system, as last read. */
  freeBytes: number | null;
  /** Bytes the reserve file holds now (0 while given up). */
  reserveBytes: number;
  /** When the state last changed (epoch ms). */
  since: number;
}

/** GET /api/status, and the `status` event of GET /api/stream. */
export interface AgentStatus {
  agent: { id: string; version: string; startedAt: number; uptimeSeconds: number; clockPlausible: boolean };
  /** held: messages received and not yet acked, waiting for their commit and its sync. */
  mqtt: { connected: boolean; url: string; embedded: boolean; holding: boolean; held: number };
  outbox: OutboxCountsView;
  /**
   * Per subscription (config order), its messages by outcome: messages = reported + filtered +
   * held + rejected; events stored for it (emitted: later, by a timer or an eviction); evicted keys.
   */
  subscriptions: { topic: string; steps: number; counts: SubscriptionCountsView }[];
  /** The dispatcher's view of each endpoint, with its URL and how many deliveries wait. */
  endpoints: EndpointStatusView[];
  /** Sparkplug B edge nodes seen, per group and node; present only with a `payload: sparkplug` subscription. */
  sparkplug?: SparkplugStatusView;
}

/** Sparkplug B edge nodes and their devices (README, "Sparkplug B input"). */
export interface SparkplugStatusView {
  nodes: {
    group: string;
    node: string;
    online: boolean;
    /** Time of the last NBIRTH (epoch ms, agent clock); null for a node never seen born. */
    birthAt: number | null;
    devices: { device: string; online: boolean; birthAt: number | null }[];
  }[];
}

/** Edge-processing counts of one subscription (README, "Edge processing"). */
export interface SubscriptionCountsView {
  messages: number;
  reported: number;
  filtered: number;
  held: number;
  rejected: number;
  events: number;
  emitted: number;
  evicted: number;
}

export interface ApiError {
  error: string;
  code: string;
  /** field path → message, for 400 validation errors */
  fields?: Record<string, string>;
}

/** A secret as listings show it: never the secret itself. */
export interface SecretView {
  /** e.g. "whsec_…q8Zk" */
  masked: string;
  kind: 'hmac' | 'ed25519';
  /** whpk_… for ed25519 secrets: safe to show, paste it into the receiving side */
  publicKey?: string;
  /** set on a rotated-out secret: it keeps signing until then (epoch ms) */
  expiresAt?: number;
}

/** GET /api/endpoints, GET /api/endpoints/:id */
export interface EndpointView {
  id: string;
  url: string;
  types: string[];
  /**
   * Values of headers that carry a credential (Authorization, Cookie, names with token, secret,
   * password, api-key, signature) are shown as "••••••••"; PUT that value back to keep it.
   */
  headers: Record<string, string>;
  timeoutMs: number;
  ordering: 'strict' | 'parallel';
  maxInFlight: number;
  enabled: boolean;
  secrets: SecretView[];
  retry: { schedule: number[]; maxAgeHours: number; backoffMaxSeconds: number };
  batch: { maxEvents: number; maxWaitMs: number };
  /** the body's format (README "Payload formats and versioning") */
  format: PayloadFormat;
  compress: 'none' | 'gzip';
  rateLimitPerSec: number;
  /** live state from the dispatcher */
  state: EndpointStateName;
  pending: number;
}

/**
 * POST /api/endpoints (create) → 201 CreatedEndpoint; PUT /api/endpoints/:id (replace) →
 * EndpointView; DELETE /api/endpoints/:id → 204 (its pending and failed deliveries are deleted,
 * counted). The same keys as an `endpoints[]` entry of the config file. On create, `secret`
 * absent → one is generated (`whsec_` + 32 random bytes) and returned once in
 * CreatedEndpoint.secret. On PUT, `secret` (and format, batch, compress, rateLimitPerSec, tls)
 * absent → kept as they are; `id` cannot change.
 */
export interface EndpointInput {
  id: string;
  url: string;
  secret?: string | string[];
  types?: string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
  ordering?: 'strict' | 'parallel';
  maxInFlight?: number;
  /** changes the format of what is sent from then on, queued events included */
  format?: PayloadFormat;
  enabled?: boolean;
  retry?: { schedule?: number[]; maxAgeHours?: number; backoffMaxSeconds?: number };
}

export interface CreatedEndpoint {
  endpoint: EndpointView;
  /** the generated secret, shown this once */
  secret?: string;
}

/** POST /api/endpoints/:id/secrets/reveal → the secrets in clear (an explicit action). */
export interface RevealedSecrets {
  secrets: string[];
}

/** POST /api/endpoints/:id/rotate  body: { windowHours?: number (default 24) } */
export interface RotateResult {
  /** the new secret, shown this once */
  secret: string;
  /** until when the previous secret keeps signing beside it (epoch ms) */
  previousExpiresAt: number;
}

/** POST /api/endpoints/:id/test → a test event ("edgehook.test") queued to that endpoint only. */
export interface TestEventResult {
  eventId: string;
  seq: number;
}

/** POST /api/endpoints/:id/replay  body: { from: epoch ms, to: epoch ms } (received-at, inclusive) */
export interface ReplayResult {
  /** how many events were queued again for this endpoint (same webhook-ids as before) */
  count: number;
  /** events inside the range no longer held (pruned after keepDeliveredHours, dropped, deleted): not replayable */
  unavailable: number;
  /**
   * when the oldest event still held was received (null: none is). Events received before it are
   * gone: a range that starts earlier cannot be replayed in full.
   */
  oldestHeldAt: number | null;
  /** events older than the endpoint's retry.maxAgeHours: left out, they would expire at once */
  tooOld: number;
}

/**
 * GET /api/subscriptions; POST /api/subscriptions → 201 SubscriptionView;
 * PUT /api/subscriptions/:index → SubscriptionView; DELETE /api/subscriptions/:index → 204.
 */
export interface SubscriptionView {
  index: number;
  topic: string;
  qos: 0 | 1 | 2;
  type?: string;
  payload: 'json' | 'text' | 'binary' | 'sparkplug';
  sparkplug?: { requestRebirth: boolean };
  /** Edge processing (README, "Edge processing"): as in the config file. */
  key?: string;
  steps?: Record<string, unknown>[];
}
/**
 * POST /api/subscriptions/try: what a subscription's steps would make of a message, now,
 * against the live step state; nothing is stored or counted. `subscription` is an index into
 * the running list or a subscription as edited (not yet saved).
 */
export interface TryStepsInput {
  subscription: number | SubscriptionInput;
  topic: string;
  payload: string;
}
export interface TryStepsResult {
  outcome: 'reported' | 'filtered' | 'held' | 'rejected';
  events: { type: string; topic: string; data: unknown }[];
  reason?: string;
}
export type SubscriptionInput = Omit<SubscriptionView, 'index' | 'qos' | 'payload'> & {
  qos?: 0 | 1 | 2;
  payload?: 'json' | 'text' | 'binary' | 'sparkplug';
};

/** GET /api/settings → SettingsView; PUT /api/settings (any part of SettingsView; null resets a key to its default) → SaveResult */
export interface SettingsView {
  agentId: string;
  logLevel: string;
  mqtt: {
    url: string;
    embedded: { host: string; port: number };
    clientId: string;
    username?: string;
    /** never the password itself; PUT { mqtt: { password: "…" } } sets it, null removes it */
    hasPassword: boolean;
    protocolVersion: 4 | 5;
  };
  storage: { maxBytes: number; whenFull: 'drop-oldest' | 'stop-ingest'; keepDeliveredHours: number };
  admin: {
    host: string;
    port: number;
    allowedHosts: string[];
    insecureHttp: boolean;
    /** Read-only: whether the running admin server speaks HTTPS, and its certificate's SHA-256 fingerprint. */
    https?: boolean;
    fingerprint256?: string;
  };
  /** edgehook.heartbeat every intervalSeconds; 0 is off. Applies without a restart. */
  heartbeat: { intervalSeconds: number };
}

export interface SaveResult {
  /** dotted keys whose change takes effect only after a restart */
  restartRequired: string[];
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'expired';

/**
 * GET /api/deliveries?endpoint=&status=&type=&from=&to=&before=&limit=
 * newest first; `before` is the cursor (a seq) from the previous page's nextBefore.
 */
/** One delivery: one event on its way to one endpoint. */
export interface DeliveryView {
  endpointId: string;
  seq: number;
  /** the webhook-id: the same on every attempt and every replay */
  eventId: string;
  type: string;
  topic: string;
  receivedAt: number;
  status: DeliveryStatus;
  attempts: number;
  /** when a pending delivery is tried next (0: now); null once settled */
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: number;
}

export interface DeliveryPage {
  items: DeliveryView[];
  nextBefore: number | null;
}

/** GET /api/deliveries/:endpoint/:seq */
export interface DeliveryDetail {
  delivery: DeliveryView;
  /**
   * The webhook body exactly as sent (alone; in a batch it was one element of the batch body),
   * in `format`: the endpoint's format now, which is the one it was sent in unless the
   * endpoint's format changed after its last attempt.
   */
  body: string;
  format: PayloadFormat;
  /** the content-type it is sent with */
  contentType: string;
  attempts: AttemptView[];
}

/** One attempt of a delivery. */
export interface AttemptView {
  at: number;
  outcome: 'delivered' | 'endpoint-trouble' | 'message-trouble' | 'gone' | 'failed';
  status: number | null;
  durationMs: number;
  error: string | null;
  /** the first bytes of the response body */
  response: string | null;
}

/**
 * POST /api/deliveries/:endpoint/:seq/retry → 202 DeliveryView (sent again now, any status but delivered-in-flight)
 * DELETE /api/deliveries/:endpoint/:seq → 204 (failed or pending; counted as "deleted")
 * GET /api/events?state=rejected&limit=&before= → RejectedEventPage: rejected events with their reason
 * POST /api/events/:seq/redeliver → 202 RedeliverResult: routes a rejected event (payload as base64) to its endpoints
 */
export interface RejectedEventView {
  seq: number;
  eventId: string;
  topic: string;
  type: string;
  receivedAt: number;
  reason: string;
  /** first bytes of the payload, as text where it is text, else "base64:…" */
  preview: string;
}

export interface RejectedEventPage {
  items: RejectedEventView[];
  /** cursor for the next (older) page: pass as `before` */
  nextBefore: number | null;
}

export interface RedeliverResult {
  /** the endpoints it was queued to (none: no endpoint takes its type; it is kept as unrouted) */
  endpoints: string[];
}

/**
 * GET /api/stream — Server-Sent Events:
 *   event: status    data: AgentStatus          (on change, at most every 500 ms)
 *   event: delivery  data: DeliveryEvent         (each settled attempt)
 *   event: rates     data: RatesSample           (every second, for the live chart)
 */
export interface DeliveryEvent {
  endpointId: string;
  seq: number;
  outcome: AttemptView['outcome'] | 'expired';
  status: number | null;
  at: number;
}

export interface RatesSample {
  at: number;
  /** events received per second over the last second */
  inPerSec: number;
  /** deliveries that succeeded per second over the last second */
  outPerSec: number;
}
