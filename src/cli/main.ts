import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { writeStarterConfig } from '../config/starter.js';
import { generateSecret } from '../delivery/sign.js';
import { createAgent } from '../agent/create-agent.js';
import { createLogger } from '../log.js';
import { isEdgehookError } from '../errors.js';
import { VERSION } from '../version.js';

/**
 * `edgehook run | check | init` (DESIGN.md §5). Exit codes: 0 fine, 1 failed at run time,
 * 2 invalid configuration or usage.
 */

const USAGE = `edgehook ${VERSION}: device-side webhook agent

usage:
  edgehook run   [--config FILE] [--data-dir DIR]   run until SIGINT/SIGTERM
  edgehook check --config FILE                      validate a config; exit 2 listing every problem
  edgehook init  [--config FILE]                    write a commented starter config (edgehook.yaml)
  edgehook keygen [--ed25519]                       print a new signing secret (whsec_, or whsk_ + its whpk_ public key)
  edgehook --version
`;

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
  let values: { config?: string | undefined; 'data-dir'?: string | undefined; ed25519?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string', short: 'd' }, ed25519: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`edgehook ${command}: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  // --config, then EDGEHOOK_CONFIG, then ./edgehook.yaml when it exists; else built-in defaults.
  const configFile = values.config ?? process.env.EDGEHOOK_CONFIG ?? (command === 'run' && existsSync('edgehook.yaml') ? 'edgehook.yaml' : undefined);
  const dataDir = values['data-dir'] ?? process.env.EDGEHOOK_DATA_DIR;
  try {
    switch (command) {
      case 'check': {
        if (!configFile) {
          process.stderr.write('edgehook check: --config FILE is required\n');
          return 2;
        }
        const cfg = loadConfigFile(configFile, {});
        process.stdout.write(
          `${configFile}: valid (${cfg.subscriptions.length} subscription(s), ${cfg.endpoints.length} endpoint(s), broker ${cfg.mqtt.url})\n`,
        );
        return 0;
      }
      case 'init': {
        const file = configFile ?? 'edgehook.yaml';
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
        return await run(configFile, dataDir);
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

async function run(givenFile: string | undefined, dataDir: string | undefined): Promise<number> {
  // Without a config file, admin edits are written to <dataDir>/edgehook.yaml: use it next time.
  const savedByAdmin = join(dataDir ?? 'edgehook-data', 'edgehook.yaml');
  const configFile = givenFile ?? (existsSync(savedByAdmin) ? savedByAdmin : undefined);
  const config = loadConfigFile(configFile, dataDir ? { dataDirOverride: dataDir } : {});
  const logger = createLogger({ level: config.logLevel });
  const agent = createAgent({ config, logger, ...(configFile !== undefined ? { configFile } : {}) });
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'stopping (send the signal again to force)');
    stopping = agent.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await agent.start();
  if (agent.loginUrl) {
    process.stderr.write(`\nEdgehook is running. Admin UI: ${agent.loginUrl}\n\n`);
    logger.info({ adminUrl: agent.adminUrl }, 'admin UI ready');
  }
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (stopping) {
        clearInterval(check);
        void stopping.then(resolve);
      }
    }, 100);
  });
  logger.info('stopped cleanly');
  return 0;
}

const code = await main(process.argv.slice(2));
// Let pino flush, then leave even if a stray handle would keep the loop alive.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
