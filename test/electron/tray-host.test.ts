import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunTool, statusNotifierHost } from '../../src/electron/tray-host.js';

/**
 * Whether a Linux desktop shows tray icons (docs/desktop.md, "The tray"), asked of a real
 * session bus started for the test (stock GNOME has no StatusNotifierWatcher: the same answer),
 * and of scripted tool output for a desktop that has a host.
 */

let bus: ChildProcess | undefined;
let address = '';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-dbus-'));

beforeAll(async () => {
  bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address', `--address=unix:path=${dir}/bus`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  address = await new Promise<string>((resolve, reject) => {
    bus!.once('error', reject);
    bus!.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
  });
});

afterAll(() => {
  bus?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const onTestBus: RunTool = (command, args) =>
  new Promise((resolve, reject) =>
    execFile(
      command,
      args,
      { timeout: 2_000, env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address } },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );

describe('statusNotifierHost', () => {
  it('says no on a session bus without a StatusNotifierWatcher (stock GNOME)', async () => {
    expect(address).toMatch(/^unix:path=/);
    expect(await statusNotifierHost(onTestBus)).toBe(false);
  });

  it('says no with dbus-send when gdbus is not installed', async () => {
    const noGdbus: RunTool = (command, args) =>
      command === 'gdbus'
        ? Promise.reject(Object.assign(new Error('spawn gdbus ENOENT'), { code: 'ENOENT' }))
        : onTestBus(command, args);
    expect(await statusNotifierHost(noGdbus)).toBe(false);
  });

  it('says yes when a host is registered, reading either tool', async () => {
    expect(await statusNotifierHost(async () => '(<true>,)\n')).toBe(true);
    const dbusSend: RunTool = async (command) => {
      if (command === 'gdbus') throw Object.assign(new Error('spawn gdbus ENOENT'), { code: 'ENOENT' });
      return 'method return time=1 sender=:1.2 -> destination=:1.9 serial=7 reply_serial=2\n   variant       boolean true\n';
    };
    expect(await statusNotifierHost(dbusSend)).toBe(true);
    expect(await statusNotifierHost(async () => '(<false>,)\n')).toBe(false);
  });

  it('cannot tell without the tools or without a session bus', async () => {
    const missing: RunTool = async (command) => {
      throw Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
    };
    expect(await statusNotifierHost(missing)).toBeUndefined();
    const noBus: RunTool = async () => {
      throw new Error(
        'Command failed: gdbus\nError connecting: Could not connect: No such file or directory',
      );
    };
    expect(await statusNotifierHost(noBus)).toBeUndefined();
  });
});
