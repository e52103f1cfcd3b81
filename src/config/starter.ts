import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EdgehookError, ErrorCodes } from '../errors.js';

/**
 * What `edgehook init` writes (README "Command line", "Configuration reference"): every section
 * shown, each key explained with its default, runnable as is on the embedded broker. Keys left
 * commented out keep their default; `key:` with nothing after it also means "the default".
 */

/** Placeholder in STARTER_CONFIG; writeStarterConfig swaps in a fresh random secret. */
const EXAMPLE_SECRET = 'whsec_ZWRnZWhvb2stZXhhbXBsZS1zZWNyZXQtY2hhbmdlLW1lIQ==';

export const STARTER_CONFIG = `# edgehook configuration (README: "Configuration reference"). Check it with:
#   edgehook check --config edgehook.yaml
# Any value may read the environment: \${NAME}, or \${NAME:-default} when NAME is unset or empty.
# Unknown keys are errors, so a typo is reported instead of silently ignored.

# Names this agent in every webhook ("agent" field). Default: the host name.
# agentId: gateway-01

# SQLite outbox and the generated admin token live here. Relative to this file.
# edgehook run --data-dir DIR overrides it. Default: ./edgehook-data
dataDir: ./edgehook-data

# fatal | error | warn | info | debug | trace | silent. Default: info
logLevel: info

mqtt:
  # "embedded" runs a small MQTT 3.1.1 broker inside the agent (the default), so devices can
  # publish straight to this gateway. Or an external broker: mqtt://, mqtts://, ws://, wss://
  url: embedded
  # Where the embedded broker listens. Defaults: 127.0.0.1 and 1883.
  # Use host 0.0.0.0 to accept devices on the network.
  embedded:
    host: 127.0.0.1
    port: 1883
  # Fixed, so an external broker keeps the session (and queues) while the agent is down.
  # Default: edgehook-<agentId>
  # clientId: edgehook-gateway-01
  # username: sensors
  # password: \${MQTT_PASSWORD}
  # 4 (MQTT 3.1.1) or 5. Default: 4. The embedded broker speaks 4 only.
  protocolVersion: 4
  # MQTT 5: how long the broker keeps the session while the agent is away. Default: 604800 (7 days)
  # sessionExpirySeconds: 604800
  # keepaliveSeconds: 30           # default 30
  # reconnectMaxSeconds: 30        # cap of the reconnect backoff; default 30
  # Private CA and client certificate for mqtts:// (paths relative to this file):
  # tls:
  #   ca: ./ca.pem
  #   cert: ./client.pem             # cert and key go together
  #   key: ./client.key
  #   rejectUnauthorized: true       # default true; false is logged as a warning

# Which MQTT topics become events, and their event type. Default: one subscription to "#".
subscriptions:
  # "+" matches one level, "#" the rest; $share/<group>/<filter> splits the load across agents.
  - topic: sensors/+/temperature
    # 0, 1 or 2. Default 1. With 1 and 2 a message is acked only once it is stored.
    qos: 1
    # Event type; {1}, {2}... are the levels the wildcards matched, so
    # sensors/kitchen/temperature becomes sensor.kitchen.temperature.
    # Default: the topic with "/" replaced by ".".
    type: sensor.{1}.temperature
    # json | text | binary | sparkplug (Sparkplug B, see the README). Default: json.
    # A payload that does not parse is kept as "rejected".
    payload: json
    # Edge processing (README, "Edge processing"): steps run in order before anything is stored.
    # key: whose state a message shares, a template like type's. Default: its topic.
    # key: "{1}"
    # steps:
    #   - filter: "celsius > -40 and celsius < 125"          # JSONata; falsy drops the message
    #   - map: '{"celsius": celsius, "room": $levels[1]}'    # JSONata; the result is the new data
    #   # Only when it moves by 0.5, and at least every 5 minutes:
    #   - deadband: { path: celsius, by: 0.5, maxSilenceSeconds: 300 }
    #   # Or: at most one per second (the newest wins), or one-minute averages:
    #   # - throttle: { intervalMs: 1000 }
    #   # - window: { seconds: 60, path: celsius }

# Where webhooks are POSTed. Default: none (events are stored but go nowhere).
endpoints:
  - # A short name used in the UI and metrics. Default: endpoint-<n>
    id: local
    # The only key without a default. http:// or https://
    url: http://127.0.0.1:9000/hooks
    # Standard Webhooks signing secret: whsec_... (HMAC-SHA256) or whsk_... (ed25519).
    # A list while rotating: every entry signs. Absent: requests are unsigned.
    secret: "\${EDGEHOOK_SECRET:-${EXAMPLE_SECRET}}"
    # Event types routed here; "*" and "sensor.*" patterns. Default: ["*"]
    types: ["sensor.*"]
    # Extra request headers. Default: none
    # headers: { Authorization: "Bearer \${CLOUD_TOKEN}" }
    timeoutMs: 15000               # per request; default 15000
    ordering: strict               # strict (in order, one at a time; default) | parallel
    maxInFlight: 8                 # concurrent requests when parallel; default 8
    # maxEvents > 1 sends several events in one signed request. Defaults: 1, 0 ms, 1MiB
    batch: { maxEvents: 1, maxWaitMs: 0, maxBytes: 1MiB }
    # The body's format: edgehook/1 (default) | cloudevents/1.0 (CloudEvents 1.0 JSON)
    format: edgehook/1
    compress: none                 # none | gzip (the signature covers the uncompressed body)
    rateLimitPerSec: 0             # requests per second; 0 (default) is no limit
    # Private CA and client certificate (mutual TLS) for https:// (paths relative to this file):
    # tls: { ca: ./cloud-ca.pem, cert: ./device.pem, key: ./device.key }
    retry:
      # Seconds to wait after each rejected attempt, then the delivery fails (visible, replayable).
      # Default: the Standard Webhooks schedule below.
      schedule: [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
      maxAgeHours: 72              # older events expire undelivered; default 72
      backoffMaxSeconds: 30        # cap of the backoff while the endpoint is down; default 30
    enabled: true                  # default true

storage:
  # The outbox never grows past this (e.g. 512MiB, 2GB, or a number of bytes). Default: 512MiB
  maxBytes: 512MiB
  # drop-oldest (default): delete the oldest events, counted and shown;
  # stop-ingest: stop acking, so the broker holds the messages.
  whenFull: drop-oldest
  # How long delivered events stay for the log and replay. Default: 24
  keepDeliveredHours: 24

processing:
  # Keys of step state kept (last reported values, held messages, open windows). Past it the
  # least recently used key is flushed early, counted as evicted. Default: 100000
  maxKeys: 100000

admin:
  # The admin UI and API. Default 127.0.0.1: this machine only. Every request needs the token.
  host: 127.0.0.1
  port: 8787                       # default 8787
  # At least 16 characters. Absent: one is generated and kept in dataDir.
  # token: \${EDGEHOOK_ADMIN_TOKEN}
  # Extra host names the UI may be reached by (e.g. gateway.local). Default: none
  allowedHosts: []
  enabled: true                    # default true
  # On any address but loopback the UI is HTTPS: with this certificate, or else a self-signed
  # one made on first start and kept in dataDir (its fingerprint is printed at start).
  # tls: { cert: ./admin.pem, key: ./admin.key }
  # insecureHttp: false            # true allows plain HTTP on the LAN; the token then travels in clear

heartbeat:
  # Emit an edgehook.heartbeat event (backlog, disk, endpoints) this often; 0 (default) is off.
  intervalSeconds: 0
`;

/**
 * Writes STARTER_CONFIG to `file` for `edgehook init`, with a freshly generated signing secret
 * (a secret printed in our source would be known to everyone). Never overwrites: the file may
 * hold someone's real configuration.
 */
export function writeStarterConfig(file: string): void {
  if (fs.existsSync(file)) {
    throw new EdgehookError(
      ErrorCodes.CONFIG_WRITE,
      `${file} already exists; edgehook init does not overwrite it (remove it or choose another --config path)`,
    );
  }
  const text = STARTER_CONFIG.replace(EXAMPLE_SECRET, `whsec_${randomBytes(32).toString('base64')}`);
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    // Temp file + rename: a crash leaves either no config or a whole one, never half a file.
    // 0600: it holds a signing secret.
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Re-check right before the rename, which would silently replace a file created meanwhile.
    if (fs.existsSync(file))
      throw new EdgehookError(
        ErrorCodes.CONFIG_WRITE,
        `${file} already exists; edgehook init does not overwrite it`,
      );
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    if (err instanceof EdgehookError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new EdgehookError(ErrorCodes.CONFIG_WRITE, `cannot write starter config ${file}: ${reason}`, {
      cause: err,
    });
  }
}
