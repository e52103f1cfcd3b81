import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { adminUsesTls, CERT_FILE } from '../admin/admin-tls.js';
import { TOKEN_FILE } from '../admin/auth.js';
import { pinnedGet } from './pinned-fetch.js';
import type { AgentStatus } from '../agent/agent-status.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { isEdgehookError } from '../errors.js';
import { describeConfig, readRuntimeInfo, resolvePaths, SYSTEM_CONFIG_FILE } from './paths.js';

/**
 * `edgehook status [--config F] [--data-dir D] [--system] [--json]`: asks the running agent
 * (GET /api/status, README "Admin API") and prints a table, or the JSON as the API answers it.
 *
 * Exit codes: 0 answered; 1 it answered with an error (token refused…); 2 bad usage or config;
 * 3 no agent answers (like `systemctl status` and LSB's "program is not running").
 */

export const EXIT_NOT_RUNNING = 3;

const USAGE = 'usage: edgehook status [--config FILE] [--data-dir DIR] [--system] [--json]\n';

export async function statusCommand(argv: string[]): Promise<number> {
  let values: {
    config?: string | undefined;
    'data-dir'?: string | undefined;
    system?: boolean | undefined;
    json?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'data-dir': { type: 'string', short: 'd' },
        system: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`edgehook status: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const fail = (code: number, message: string) => {
    process.stderr.write(`edgehook status: ${message}\n`);
    return code;
  };

  const paths = resolvePaths({ config: values.config, dataDir: values['data-dir'], system: values.system });
  let config: Config;
  try {
    config = loadConfigFile(
      paths.configFile,
      paths.dataDirOverride !== undefined ? { dataDirOverride: paths.dataDirOverride } : {},
    );
  } catch (err) {
    if (!isEdgehookError(err)) throw err;
    return fail(2, [err.message, ...err.details.map((d) => `  ${d}`)].join('\n'));
  }
  const hint =
    paths.mode === 'user' && paths.configSource === 'none' && existsQuietly(SYSTEM_CONFIG_FILE)
      ? ` (the system service's config is ${SYSTEM_CONFIG_FILE}: try sudo edgehook status)`
      : '';
  if (!config.admin.enabled)
    return fail(
      1,
      `the admin API is disabled (admin.enabled: false in ${describeConfig(paths)}); status needs it`,
    );

  // The address the agent recorded at start wins: it is right even with admin.port 0.
  const recorded = readRuntimeInfo(config.dataDir);
  const host = ['0.0.0.0', '::'].includes(config.admin.host) ? '127.0.0.1' : config.admin.host;
  const scheme = adminUsesTls(config.admin) ? 'https' : 'http';
  const url =
    recorded?.adminUrl ??
    (config.admin.port === 0
      ? undefined
      : `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}`);
  if (!url) return fail(EXIT_NOT_RUNNING, `no agent is running with data directory ${config.dataDir}${hint}`);

  let token = config.admin.token;
  if (!token) {
    const file = join(config.dataDir, TOKEN_FILE);
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        return fail(
          EXIT_NOT_RUNNING,
          `no agent has run with data directory ${config.dataDir} (no ${TOKEN_FILE} there)${hint}`,
        );
      if (code === 'EACCES' || code === 'EPERM')
        return fail(1, `cannot read ${file}: permission denied (run as the agent's user, or with sudo)`);
      throw err;
    }
  }

  let res: { status: number; body: string };
  const init = { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) };
  try {
    if (url.startsWith('https:')) {
      // The fingerprint the agent recorded at start, else that of the certificate it serves.
      const fingerprint = recorded?.fingerprint256 ?? certificateFingerprint(config);
      if (!fingerprint) return fail(1, `cannot tell which certificate the agent at ${url} serves`);
      res = await pinnedGet(`${url}/api/status`, fingerprint, init);
    } else {
      const r = await fetch(`${url}/api/status`, init);
      res = { status: r.status, body: await r.text() };
    }
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === 'EDGEHOOK_CERT_MISMATCH') return fail(1, cause.message);
    const why = cause?.code ?? (err as Error).name;
    return fail(
      EXIT_NOT_RUNNING,
      `no agent answers at ${url} (${why}); is it running? (config: ${describeConfig(paths)})${hint}`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    return fail(
      1,
      `the agent at ${url} refused the admin token from ${config.admin.token ? 'admin.token' : join(config.dataDir, TOKEN_FILE)} (HTTP ${res.status}); is another agent using that port?`,
    );
  }
  if (res.status < 200 || res.status > 299) return fail(1, `the agent at ${url} answered HTTP ${res.status}`);
  const status = JSON.parse(res.body) as AgentStatus;
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, url));
  return 0;
}

/** SHA-256 fingerprint of the certificate file the agent serves: admin.tls.cert or the self-signed one. */
function certificateFingerprint(config: Config): string | undefined {
  try {
    const file = config.admin.tls?.cert ?? join(config.dataDir, CERT_FILE);
    return new X509Certificate(readFileSync(file)).fingerprint256;
  } catch {
    return undefined;
  }
}

function existsQuietly(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES';
  }
}

/** The readable table: what an operator checks first on a gateway. */
export function formatStatus(s: AgentStatus, url: string): string {
  const o = s.outbox;
  const lines = [
    `agent    ${s.agent.id}  edgehook ${s.agent.version}  up ${duration(s.agent.uptimeSeconds)}  ${url}`,
    `broker   ${s.mqtt.connected ? 'connected' : 'DISCONNECTED'}  ${s.mqtt.url}${s.mqtt.embedded ? ' (embedded)' : ''}${s.mqtt.holding ? '  HOLDING (outbox full: not acking)' : ''}`,
    `outbox   ${o.pending} pending${o.oldestPendingAgeSeconds === null ? '' : ` (oldest undelivered ${duration(o.oldestPendingAgeSeconds)} old)`}  ${bytes(o.bytes)} of ${bytes(o.maxBytes)}`,
    `         received ${o.received}  delivered ${o.delivered}  failed ${o.failed}  rejected ${o.rejected}  dropped ${o.dropped}  expired ${o.expired}`,
  ];
  if (!s.agent.clockPlausible)
    lines.push('clock    NOT SET (no RTC or NTP yet): deliveries wait for a plausible time');
  lines.push('');
  const rows = s.endpoints.map((e) => [
    e.id,
    e.state,
    String(e.pending),
    String(e.inFlight),
    e.lastStatus === null ? '-' : String(e.lastStatus),
    e.heldByClock
      ? 'waiting for the clock'
      : e.blockedBy
        ? `blocked by seq ${e.blockedBy.seq} (retry ${when(e.blockedBy.nextAttemptAt)})`
        : (e.lastError ?? ''),
  ]);
  if (rows.length === 0) lines.push('no endpoints configured: events are stored but go nowhere');
  else lines.push(...table(['ENDPOINT', 'STATE', 'PENDING', 'IN FLIGHT', 'LAST HTTP', 'NOTE'], rows, [2, 3]));
  return `${lines.join('\n')}\n`;
}

function table(head: string[], rows: string[][], rightAligned: number[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) =>
        rightAligned.includes(i) ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function when(epochMs: number): string {
  const s = Math.round((epochMs - Date.now()) / 1000);
  return s <= 0 ? 'now' : `in ${duration(s)}`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
