import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeStarterConfig } from '../config/starter.js';
import { LAUNCHER, launcherNodeFlags } from './launcher-flags.js';
import { renderUnit, UNIT_DEFAULTS, UNIT_NAME, type UnitOptions } from '../systemd/unit-file.js';

/**
 * `edgehook service install | print`: puts the systemd unit in place for this installation.
 *
 * install (as root): creates the system user, /etc/edgehook/edgehook.yaml (a starter, when
 * there is none) and the unit with this machine's node and edgehook paths, then enables and
 * starts it. Each step is idempotent, so running it again after an upgrade refreshes the unit.
 * --dry-run prints the steps and the unit and changes nothing; print writes the unit to stdout.
 */

const USAGE = `usage:
  edgehook service install [--user NAME] [--config FILE] [--data-dir DIR] [--unit-dir DIR] [--no-start] [--dry-run]
  edgehook service print   [--user NAME] [--config FILE] [--data-dir DIR]
`;

export async function serviceCommand(argv: string[]): Promise<number> {
  let values: {
    user: string;
    config: string;
    'data-dir': string;
    'unit-dir': string;
    'no-start': boolean;
    'dry-run': boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        user: { type: 'string', default: UNIT_DEFAULTS.user },
        config: { type: 'string', default: UNIT_DEFAULTS.configFile },
        'data-dir': { type: 'string', default: UNIT_DEFAULTS.dataDir },
        'unit-dir': { type: 'string', default: '/etc/systemd/system' },
        'no-start': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    process.stderr.write(`edgehook service: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const action = positionals[0];
  if (positionals.length !== 1 || (action !== 'install' && action !== 'print')) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (!/^[a-z_][a-z0-9_-]*$/.test(values.user)) {
    process.stderr.write(`edgehook service: "${values.user}" is not a valid user name\n`);
    return 2;
  }
  const unit: UnitOptions = {
    exec: installedCommand(),
    user: values.user,
    configFile: resolve(values.config),
    dataDir: resolve(values['data-dir']),
    protectHome: installedCommand().some(underHome) ? 'read-only' : 'yes',
  };
  if (action === 'print') {
    process.stdout.write(renderUnit(unit));
    return 0;
  }
  return install(unit, {
    unitDir: values['unit-dir'],
    start: !values['no-start'],
    dryRun: values['dry-run'],
  });
}

/**
 * The node binary, the launcher's node flags and the launcher itself, absolute: systemd does
 * not search PATH for them.
 */
export function installedCommand(): string[] {
  return [process.execPath, ...launcherNodeFlags(), LAUNCHER];
}

function underHome(path: string): boolean {
  return path.startsWith('/home/') || path.startsWith('/root/');
}

interface InstallOptions {
  unitDir: string;
  start: boolean;
  dryRun: boolean;
}

function install(unit: UnitOptions, o: InstallOptions): number {
  const say = (line: string) => process.stdout.write(`${o.dryRun ? 'would ' : ''}${line}\n`);
  if (!o.dryRun && process.getuid?.() !== 0) {
    process.stderr.write(
      'edgehook service install: must run as root (sudo edgehook service install), or add --dry-run to see the steps\n',
    );
    return 1;
  }
  if (!o.dryRun && !existsSync('/run/systemd/system')) {
    process.stderr.write(
      'edgehook service install: systemd is not running on this machine; see docs/headless.md for running edgehook without it\n',
    );
    return 1;
  }
  const unitFile = join(o.unitDir, UNIT_NAME);
  const text = renderUnit(unit);
  const run = (cmd: string, args: string[]) => {
    say(`run: ${[cmd, ...args].join(' ')}`);
    if (!o.dryRun) execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  };

  try {
    // 1. The service user: a system account with no login and no home of its own.
    if (!userExists(unit.user)) {
      run('useradd', [
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        unit.dataDir,
        '--shell',
        '/usr/sbin/nologin',
        unit.user,
      ]);
    } else {
      say(`keep the existing user ${unit.user}`);
    }
    // 2. Config and data directories, owned by the service user (admin UI edits rewrite the config).
    for (const dir of [dirname(unit.configFile), unit.dataDir]) {
      say(`create ${dir} (owner ${unit.user}, mode 0750)`);
      if (!o.dryRun) ownDir(dir, unit.user);
    }
    // 3. A starter config that keeps its data in the service's data directory.
    if (!existsSync(unit.configFile)) {
      say(`write a starter config to ${unit.configFile} (mode 0640; edit its endpoints)`);
      if (!o.dryRun) writeServiceConfig(unit);
    } else {
      say(`keep the existing ${unit.configFile}`);
    }
    // 4. The unit, then systemd picks it up.
    say(`write ${unitFile}`);
    if (o.dryRun) process.stdout.write(`\n${text}\n`);
    else writeAtomic(unitFile, text, 0o644);
    run('systemctl', ['daemon-reload']);
    run('systemctl', o.start ? ['enable', '--now', UNIT_NAME] : ['enable', UNIT_NAME]);
  } catch (err) {
    process.stderr.write(`edgehook service install: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    [
      '',
      `${o.dryRun ? 'Then' : 'Done'}:`,
      `  edit ${unit.configFile}, then: sudo systemctl restart edgehook`,
      '  logs:   journalctl -u edgehook -f',
      '  state:  sudo edgehook status',
      '',
    ].join('\n'),
  );
  return 0;
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function uidGid(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function ownDir(dir: string, user: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const { uid, gid } = uidGid(user);
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o750);
}

function writeServiceConfig(unit: UnitOptions): void {
  writeStarterConfig(unit.configFile);
  // The starter keeps data beside itself (./edgehook-data); the service keeps it in dataDir,
  // which the unit's --data-dir names too, so `sudo edgehook status` reading this file agrees.
  const text = readFileSync(unit.configFile, 'utf8').replace(/^dataDir: .*$/m, `dataDir: ${unit.dataDir}`);
  writeAtomic(unit.configFile, text, 0o640);
  const { uid, gid } = uidGid(unit.user);
  chownSync(unit.configFile, uid, gid);
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
