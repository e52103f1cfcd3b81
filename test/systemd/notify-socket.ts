import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/net.js';

/**
 * A stand-in for systemd's notification socket: an AF_UNIX datagram socket (which Node cannot
 * open, hence python3) that records every message the agent's systemd-notify sends. Set
 * NOTIFY_SOCKET to `path`. BARRIER=1 messages carry a pipe fd that python drops unread, which
 * closes it, so systemd-notify's wait for the barrier ends at once.
 */

// /usr/bin/python3 first: a pyenv shim on PATH can take seconds to start.
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

export class FakeNotifySocket {
  readonly path: string;
  /** Every datagram, in order, BARRIER=1 left out. */
  readonly messages: string[] = [];
  private proc: ChildProcess | undefined;
  private buffered = '';

  constructor(dir: string) {
    this.path = join(dir, 'notify.sock');
  }

  async start(): Promise<this> {
    const proc = spawn(PYTHON, ['-c', LISTENER, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    let listening = false;
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        if (line === 'listening') listening = true;
        else {
          const message = JSON.parse(line) as string;
          if (message !== 'BARRIER=1') this.messages.push(message);
        }
      }
    });
    await waitFor(() => listening || proc.exitCode !== null, 'the fake notify socket to listen', 15_000);
    if (!listening) throw new Error(`python3 listener exited with ${proc.exitCode}`);
    return this;
  }

  /** Messages holding `assignment` (e.g. "READY=1") as one of their lines. */
  having(assignment: string): string[] {
    return this.messages.filter((m) => m.split('\n').includes(assignment));
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
}

/**
 * Whether systemd-notify is installed. Outside CI a machine without systemd skips the tests
 * that need it; under CI=true (where .ci/run installs systemd) they always run, and fail if
 * it is missing.
 */
export function haveSystemdNotify(): boolean {
  if (process.env.CI === 'true') return true;
  return ['/usr/bin/systemd-notify', '/bin/systemd-notify'].some((p) => existsSync(p));
}
