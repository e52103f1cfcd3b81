import { basename, dirname } from 'node:path';
import { SYSTEM_CONFIG_FILE, SYSTEM_DATA_DIR } from '../config/system-paths.js';

/**
 * The systemd unit, rendered from one template so packaging/edgehook.service (for people who
 * install it by hand) and `edgehook service install` (which fills in this machine's paths)
 * cannot drift apart; test/systemd checks the shipped file against renderUnit(UNIT_DEFAULTS).
 */

export interface UnitOptions {
  /** The command line up to "run": e.g. ["/usr/bin/node", "/usr/lib/node_modules/edgehook/bin/edgehook.js"]. */
  exec: string[];
  user: string;
  configFile: string;
  dataDir: string;
  /**
   * "yes" hides /home and /root. "read-only" when Node itself lives there (nvm), or the service
   * could not start its own interpreter.
   */
  protectHome: 'yes' | 'read-only';
}

export const UNIT_DEFAULTS: UnitOptions = {
  exec: ['/usr/local/bin/edgehook'],
  user: 'edgehook',
  configFile: SYSTEM_CONFIG_FILE,
  dataDir: SYSTEM_DATA_DIR,
  protectHome: 'yes',
};

export const UNIT_NAME = 'edgehook.service';

/** systemd's quoting for ExecStart words (systemd.syntax(7)): double quotes, backslash escapes. */
function quote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderUnit(o: UnitOptions = UNIT_DEFAULTS): string {
  const exec = [...o.exec, 'run', '--config', o.configFile, '--data-dir', o.dataDir].map(quote).join(' ');
  // StateDirectory= creates the data directory owned by the service user, but only under
  // /var/lib; anywhere else ReadWritePaths= and a directory made by `service install` do.
  const stateDir = o.dataDir.startsWith('/var/lib/') ? o.dataDir.slice('/var/lib/'.length) : undefined;
  // Admin UI edits are written back to the config file, atomically (a temp file beside it,
  // renamed), so its directory must be writable, but only a directory of its own, never /etc.
  // This gives the service user nothing new: the admin API can edit the config anyway.
  const configDir = dirname(o.configFile);
  const writable = [o.dataDir, ...(basename(configDir) === 'edgehook' ? [configDir] : [])];
  return `# Edgehook as a systemd service. \`edgehook service install\` writes this file with this
# machine's paths; to install it by hand see docs/headless.md. Logs: journalctl -u edgehook
[Unit]
Description=Edgehook webhook agent (MQTT in, SQLite outbox, signed webhooks out)
Documentation=https://www.npmjs.com/package/edgehook
Wants=network-online.target
After=network-online.target mosquitto.service
# Give up after 5 failed starts in 5 minutes instead of restarting forever.
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
# READY=1 after the outbox, broker connection and admin server are up; WATCHDOG=1 every
# WatchdogSec/2; STOPPING=1 on SIGTERM. They are sent by systemd-notify, a child process,
# hence NotifyAccess=all.
Type=notify
NotifyAccess=all
ExecStart=${exec}
# Optional KEY=value lines for \${VAR} references in the config (secrets, EDGEHOOK_ADMIN_TOKEN).
EnvironmentFile=-/etc/default/edgehook
User=${o.user}
Group=${o.user}
Restart=on-failure
RestartSec=5
# Opening SQLite and migrating on a slow SD card can take a while.
TimeoutStartSec=90
# A clean stop finishes or abandons requests in flight; then systemd kills.
TimeoutStopSec=30
# A stuck event loop (e.g. a synchronous SQLite call on a dying card) stops the pings.
WatchdogSec=30
${stateDir ? `StateDirectory=${stateDir}\nStateDirectoryMode=0750\n` : ''}UMask=0027
SyslogIdentifier=edgehook

# Hardening (systemd.exec(5)). The agent writes only its data and config directories, and
# talks TCP.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${writable.map(quote).join(' ')}
ProtectHome=${o.protectHome}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
# AF_UNIX: systemd-notify and journald; AF_NETLINK: glibc's getaddrinfo (AI_ADDRCONFIG).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
# EPERM rather than a kill: libuv probes io_uring and falls back when refused.
SystemCallErrorNumber=EPERM
# Not MemoryDenyWriteExecute=yes: V8's JIT needs writable and executable memory.

[Install]
WantedBy=multi-user.target
`;
}
