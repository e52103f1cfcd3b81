import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { writeStarterConfig } from '../config/starter.js';
import { generateSecret } from '../delivery/sign.js';
import { join } from 'node:path';
import { createAgent, type Agent } from '../agent/create-agent.js';
import { TOKEN_FILE } from '../admin/auth.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { SystemdNotifier } from '../systemd/notify.js';
import { removeRuntimeInfo, resolvePaths, writeRuntimeInfo, type ResolvedPaths } from './paths.js';
import { createCliLogger } from './terminal-log.js';
import { isEdgehookError } from '../errors.js';
import { VERSION } from '../version.js';
import { limitHeapGrowth } from '../heap-growth.js';

/**
 * `edgehook run | check | init | keygen`, and `status | demo | service` (README "Command line"), which
 * live in their own modules. Exit codes: 0 fine, 1 failed at run time, 2 invalid
 * configuration or usage; `status` adds 3, no agent answers. Where the config and data
 * directory are found: src/cli/paths.ts.
 */

const USAGE = `edgehook ${VERSION}: device-side webhook agent

usage:
  edgehook run   [--config FILE] [--data-dir DIR]   run until SIGINT/SIGTERM
  edgehook check --config FILE                      validate a config; exit 2 listing every problem
  edgehook init  [--config FILE]                    write a commented starter config (edgehook.yaml)
  edgehook keygen [--ed25519]                       print a new signing secret (whsec_, or whsk_ + its whpk_ public key)
  edgehook status [--config FILE] [--json]          ask the running agent: broker, endpoints, queue depth, drops
  edgehook demo   [--port N] [--admin-port N] [--sparkplug]
                                                    embedded broker, simulated sensors and a verifying receiver
  edgehook service install [--dry-run]              install and start the systemd unit (as root)
  edgehook --version

Without --config: $EDGEHOOK_CONFIG, ./edgehook.yaml, then ~/.config/edgehook/edgehook.yaml
(/etc/edgehook/edgehook.yaml with --system, or as root when it exists). --data-dir, or
$EDGEHOOK_DATA_DIR, overrides the config's dataDir.
`;

/** Commands that parse their own options, loaded on demand so `run` carries none of them. */
const OWN_COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  status: async (args) => (await import('./status-command.js')).statusCommand(args),
  demo: async (args) => (await import('./demo-command.js')).demoCommand(args),
  service: async (args) => (await import('./service-command.js')).serviceCommand(args),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (Object.hasOwn(OWN_COMMANDS, command)) {
    try {
      return await OWN_COMMANDS[command]!(rest);
    } catch (err) {
      return reportError(command, err);
    }
  }
  let values: {
    config?: string | undefined;
    'data-dir'?: string | undefined;
    ed25519?: boolean | undefined;
    system?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        'data-dir': { type: 'string', short: 'd' },
        ed25519: { type: 'boolean' },
        system: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`edgehook ${command}: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const paths = resolvePaths({ config: values.config, dataDir: values['data-dir'], system: values.system });
  const configFile = values.config || paths.configFile;
  try {
    switch (command) {
      case 'check': {
        if (!configFile) {
          process.stderr.write(
            `edgehook check: no config file found (--config FILE, $EDGEHOOK_CONFIG, ./edgehook.yaml or ${paths.platform.configFile})\n`,
          );
          return 2;
        }
        const cfg = loadConfigFile(configFile, {});
        process.stdout.write(
          `${configFile}: valid (${cfg.subscriptions.length} subscription(s), ${cfg.endpoints.length} endpoint(s), broker ${cfg.mqtt.url})\n`,
        );
        return 0;
      }
      case 'init': {
        const file = values.config || process.env.EDGEHOOK_CONFIG || 'edgehook.yaml';
        writeStarterConfig(file);
        process.stdout.write(`wrote ${file}; edit it, then: edgehook run --config ${file}\n`);
        return 0;
      }
      case 'keygen': {
        // A signing secret for an endpoint; with --ed25519 also the public key for the receiver.
        const { secret, publicKey } = generateSecret(values.ed25519 ? 'ed25519' : 'hmac');
        process.stdout.write(`secret: ${secret}\n`);
        if (publicKey) process.stdout.write(`public key (give this to the receiver): ${publicKey}\n`);
        return 0;
      }
      case 'run':
        return await run(paths);
      default:
        process.stderr.write(`edgehook: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    return reportError(command, err);
  }
}

function reportError(command: string, err: unknown): number {
  if (isEdgehookError(err)) {
    process.stderr.write(`edgehook ${command}: ${err.message}\n`);
    for (const line of err.details) process.stderr.write(`  ${line}\n`);
    return err.code === 'EDGEHOOK_ERR_CONFIG_INVALID' || err.code === 'EDGEHOOK_ERR_CONFIG_READ' ? 2 : 1;
  }
  process.stderr.write(`edgehook ${command}: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

async function run(paths: ResolvedPaths): Promise<number> {
  // Without a config file, admin edits are written to <dataDir>/edgehook.yaml; resolvePaths
  // picks that file up next time.
  const { configFile } = paths;
  const config = loadConfigFile(
    configFile,
    paths.dataDirOverride !== undefined ? { dataDirOverride: paths.dataDirOverride } : {},
  );
  // EDGEHOOK_LOG_LEVEL overrides the file, for a one-off debugging run.
  const logger = await createCliLogger(process.env.EDGEHOOK_LOG_LEVEL ?? config.logLevel);
  const notifier = new SystemdNotifier({ logger: logger.child({ module: 'systemd' }) });
  limitHeapGrowth();
  const agent = createAgent({ config, logger, ...(configFile !== undefined ? { configFile } : {}) });
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> = Promise.resolve();
  // Settles with the stop the first signal starts (resolving with a promise adopts it).
  let stopRequested: (stop: Promise<void>) => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'stopping (send the signal again to force)');
    void notifier.stopping('stopping');
    // A signal during start waits for it: stopping now would close the database under the
    // parts still being started, and leave those running.
    stopping = starting.catch(() => undefined).then(() => agent.stop());
    stopRequested(stopping);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  exitOnUncaught(logger);
  starting = agent.start();
  await starting;
  if (agent.loginUrl) {
    announceAdmin(agent, config, logger);
    try {
      writeRuntimeInfo(config.dataDir, {
        pid: process.pid,
        adminUrl: agent.adminUrl!,
        startedAt: Date.now(),
        ...(agent.adminTls ? { fingerprint256: agent.adminTls.fingerprint256 } : {}),
      });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot record the admin address for edgehook status');
    }
  }
  // Not after a signal that came during start: systemd must not see READY after STOPPING.
  if (!stopping) {
    await notifier.ready(`running; admin UI ${agent.adminUrl ?? 'disabled'}`);
    notifier.startWatchdog();
  }
  // Runs until a signal. Nothing else need hold the event loop open meanwhile (no admin server,
  // a broker between reconnects): without this handle Node would exit with the await unsettled.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  try {
    await stopped;
  } finally {
    clearInterval(keepAlive);
  }
  removeRuntimeInfo(config.dataDir);
  notifier.stopWatchdog();
  await notifier.whenSent();
  logger.info('stopped cleanly');
  return 0;
}

/**
 * The last resort. Every timer, callback and event handler of the agent handles its own
 * failures (a full disk is a state, a failed read is tried again), so reaching this is a bug:
 * say what happened, with its stack, and exit non-zero so the service manager restarts the
 * agent. Nothing acked is lost by that; the broker re-sends what was not.
 */
function exitOnUncaught(logger: Logger): void {
  const die = (kind: string) => (err: unknown) => {
    logger.fatal(
      { err, kind },
      `${kind}: a bug in edgehook; exiting so that the service manager restarts it`,
    );
    process.exitCode = 70;
    // pino writes synchronously to stderr/stdout here; nothing else may run after a broken state.
    process.exit(70);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}

/**
 * The login link carries the token: it goes to a terminal only. Under systemd (stdout is
 * journald) or any pipe, the line names the token's file instead, and the log says the same.
 */
function announceAdmin(agent: Agent, config: Config, logger: Logger): void {
  const fingerprint = agent.adminTls
    ? `\nCertificate SHA-256 fingerprint: ${agent.adminTls.fingerprint256}`
    : '';
  const tokenFrom = config.admin.token ? 'admin.token of the config' : join(config.dataDir, TOKEN_FILE);
  if (process.stdout.isTTY) {
    process.stderr.write(`\nEdgehook is running. Admin UI: ${agent.loginUrl}${fingerprint}\n\n`);
  } else {
    process.stderr.write(
      `\nEdgehook is running. Admin UI: ${agent.adminUrl}/ (sign in with the token in ${tokenFrom})${fingerprint}\n\n`,
    );
  }
  logger.info(
    {
      adminUrl: agent.adminUrl,
      tokenFile: tokenFrom,
      ...(agent.adminTls ? { fingerprint256: agent.adminTls.fingerprint256 } : {}),
    },
    `admin UI ready; sign in with the token in ${tokenFrom}`,
  );
}

// `edgehook status --json | head`: a reader that leaves early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});
const code = await main(process.argv.slice(2));
// Let pino flush, then leave even if a stray handle would keep the loop alive.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
