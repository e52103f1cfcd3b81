import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/agent.js';
import { buildEioInjector } from './support/eio-injector.js';
import { Cleanup, tempDirIn } from './support/rig.js';
import { mountSmallDisk } from '../helpers/small-disk.js';

/**
 * The fault rigs that failing-writes.test.ts relies on, checked on their own: if a rig silently
 * did nothing, every failing-writes case would pass without testing anything.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const mounted = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);

describe('fault rigs', () => {
  it('small disk: a tmpfs of the given size fills up (ENOSPC), drains, and is unmounted by cleanup', async ({
    skip,
  }) => {
    const dir = join(tempDirIn(cleanup, 'edgehook-rig-disk-'), 'data');
    const { disk, skipReason } = mountSmallDisk(dir, 4 * 1024 * 1024);
    // Skipped (with the reason) only outside CI without root; under CI=true a failed mount throws.
    if (!disk) return skip(skipReason);
    cleanup.add(() => disk.cleanup());
    expect(mounted(dir)).toBe(true);
    expect(disk.freeBytes()).toBeGreaterThan(3.5 * 1024 * 1024);
    expect(disk.freeBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(disk.fill(100 * 1024)).toBeGreaterThan(3 * 1024 * 1024);
    expect(disk.freeBytes()).toBeLessThanOrEqual(100 * 1024);
    disk.fill(0);
    expect(() => writeFileSync(join(dir, 'more'), Buffer.alloc(64 * 1024))).toThrow(/ENOSPC/);
    disk.drain();
    expect(disk.freeBytes()).toBeGreaterThan(3.5 * 1024 * 1024);
    disk.cleanup();
    expect(mounted(dir)).toBe(false);
  });

  it('EIO shim: better-sqlite3 in a child process gets SQLITE_IOERR on write, fsync and open while it is on, works when off; Node keeps writing its own files', async () => {
    const eio = buildEioInjector({ match: ['edgehook.db'] });
    cleanup.add(() => eio.cleanup());
    const dir = tempDirIn(cleanup, 'edgehook-rig-eio-');
    // A child that runs one command per line and answers with one JSON line.
    const script = `
      const Database = require('better-sqlite3');
      const fs = require('node:fs');
      const [dbFile, other] = process.argv.slice(1);
      const db = new Database(dbFile);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE IF NOT EXISTS t (v TEXT)');
      require('node:readline').createInterface({ input: process.stdin }).on('line', (cmd) => {
        const out = {};
        try {
          if (cmd === 'insert') db.prepare('INSERT INTO t (v) VALUES (?)').run('x'.repeat(5000));
          if (cmd === 'open') new Database(dbFile).close();
          out.ok = true;
        } catch (err) {
          out.code = err.code;
        }
        fs.writeFileSync(other, cmd);
        out.other = fs.readFileSync(other, 'utf8');
        out.rows = db.prepare('SELECT count(*) AS n FROM t').get().n;
        process.stdout.write(JSON.stringify(out) + '\\n');
      });
    `;
    const child = spawn(process.execPath, ['-e', script, join(dir, 'edgehook.db'), join(dir, 'other.txt')], {
      cwd: ROOT,
      env: { ...process.env, ...eio.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanup.add(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout });
    const answers: string[] = [];
    lines.on('line', (l) => answers.push(l));
    const ask = async (cmd: string) => {
      const want = answers.length + 1;
      child.stdin.write(`${cmd}\n`);
      const deadline = Date.now() + 10_000;
      while (answers.length < want) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no answer to ${cmd}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return JSON.parse(answers[want - 1]!) as { ok?: true; code?: string; other: string; rows: number };
    };

    expect(await ask('insert')).toEqual({ ok: true, other: 'insert', rows: 1 });
    eio.on(['write']);
    expect(await ask('insert')).toMatchObject({
      code: expect.stringMatching(/^SQLITE_IOERR/),
      other: 'insert',
    });
    expect(eio.faults().length).toBeGreaterThan(0);
    eio.off();
    // The failed insert rolled back; the connection goes on.
    expect(await ask('insert')).toEqual({ ok: true, other: 'insert', rows: 2 });
    eio.on(['fsync']);
    expect(await ask('insert')).toMatchObject({ code: 'SQLITE_IOERR_FSYNC' });
    expect(eio.faults().at(-1)).toMatch(/^fsync fd \d+$/);
    eio.off();
    expect((await ask('insert')).ok).toBe(true);
    eio.on(['open']);
    expect(await ask('open')).toMatchObject({ code: expect.stringMatching(/^SQLITE_(CANTOPEN|IOERR)/) });
    expect(eio.faults().at(-1)).toMatch(/^open .*edgehook\.db/);
    eio.off();
    expect(await ask('open')).toMatchObject({ ok: true });
    expect(eio.faults().every((f) => /^(write|fsync) fd \d+$|^open \S*edgehook\.db/.test(f))).toBe(true);
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
    expect(child.exitCode, stderr).toBe(0);
  });
});
