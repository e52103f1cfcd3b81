import { afterEach, describe, expect, it } from 'vitest';
import {
  expectAlive,
  eventsInFile,
  expectPromiseKept,
  FULL_LINE,
  MiB,
  reserveFileBytes,
  ROOM_LINE,
  type Rig,
  type RigOptions,
  startRig,
  waitAlive,
  waitAllDelivered,
  waitForStatus,
} from './support/failing-writes-rig.js';
import { Cleanup } from './support/rig.js';

/**
 * Failing writes (README, Guarantees): a partition that fills before storage.maxBytes does (an
 * SD card shared with logs), and a disk whose writes, syncs or opens fail with EIO. Each case
 * runs the real agent with a real Mosquitto and checks that nothing acked is lost, nothing that
 * fit is dropped, the process does not crash, and everything arrives in order afterwards.
 * The rigs themselves are checked in fault-rigs.test.ts.
 */

const DISK = 16 * MiB;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

type Skip = (note?: string) => never;

/** Skipped (with the reason) only outside CI without root to mount the tmpfs; under CI=true the mount failing fails the test. */
async function rigOrSkip(skip: Skip, o: RigOptions): Promise<Rig> {
  const started = await startRig(cleanup, o);
  if (!started.rig) return skip(started.skipReason);
  return started.rig;
}

/**
 * A full disk with the receiver answering 503 (nothing delivered, so nothing can be pruned):
 * a log grows until the partition is nearly full, readings keep coming, the agent must hold
 * ingest with the disk in state full and its reserve given up; once the log is removed it takes
 * the reserve back and resumes by itself; then the receiver gets everything.
 */
async function diskFullThenRoom(rig: Rig, total: number): Promise<void> {
  const disk = rig.disk!;
  await waitAlive(
    rig,
    () => reserveFileBytes(rig) === rig.reserveBytes,
    'the reserve file taken at start',
    10_000,
  );
  disk.fill(512 * 1024);
  const progress = { published: 0 };
  const publishing = rig.publish(0, total, progress);
  const full = await waitForStatus(
    rig,
    (s) => s.outbox.disk?.state === 'full' && s.outbox.disk.reserveBytes === 0,
    'the disk reported full with its reserve given up',
    30_000,
  );
  expect(full.outbox.disk!.freeBytes).toBeLessThan(rig.reserveBytes + 512 * 1024);
  await waitAlive(rig, () => rig.logged(FULL_LINE) >= 1, `"${FULL_LINE}" logged`, 5_000);
  await publishing; // the broker holds what the agent did not ack
  const held = await rig.status();
  // Had every reading been stored, received (readings and at least one probe) would exceed total.
  expect(held.outbox.received, 'events stored while the disk was full').toBeLessThan(total);
  expect(held.outbox.dropped).toBe(0);
  expectAlive(rig);

  disk.drain();
  const room = await waitForStatus(
    rig,
    (s) => s.outbox.disk?.state === 'ok' && s.outbox.disk.reserveBytes === rig.reserveBytes,
    'the disk back to ok with the reserve taken back',
  );
  expect(room.outbox.disk!.freeBytes).toBeGreaterThan(0);
  expect(reserveFileBytes(rig)).toBe(rig.reserveBytes);
  await waitAlive(rig, () => rig.logged(ROOM_LINE) === 1, `"${ROOM_LINE}" logged`, 5_000);

  rig.receiverUp();
  await waitAllDelivered(rig, total);
  expect(rig.logged(FULL_LINE), 'one log line per change of state').toBe(1);
  await expectPromiseKept(rig, total);
}

describe('failing writes: a full disk (16 MiB tmpfs data directory)', () => {
  it('whenFull drop-oldest: a full partition holds ingest instead of dropping; resumes by itself once a log is removed; all delivered in order', async ({
    skip,
  }) => {
    const rig = await rigOrSkip(skip, {
      name: 'full-drop',
      // No storage.minFreeBytes: the partition itself fills, SQLite meets SQLITE_FULL and the
      // reserve is given up (minFreeBytes holding before that is in test/outbox/disk-guard.test.ts).
      minFreeBytes: 0,
      whenFull: 'drop-oldest',
      diskBytes: DISK,
      answering: false,
    });
    await diskFullThenRoom(rig, 1200);
  }, 90_000);

  it('whenFull stop-ingest: a full partition holds ingest; resumes by itself once a log is removed; all delivered in order', async ({
    skip,
  }) => {
    const rig = await rigOrSkip(skip, {
      name: 'full-stop',
      // No storage.minFreeBytes: the partition itself fills, SQLite meets SQLITE_FULL and the
      // reserve is given up (minFreeBytes holding before that is in test/outbox/disk-guard.test.ts).
      minFreeBytes: 0,
      whenFull: 'stop-ingest',
      diskBytes: DISK,
      answering: false,
    });
    await diskFullThenRoom(rig, 1200);
  }, 90_000);

  it('a receiver outage on a full disk: delivered events kept for the log are pruned first (counted), the backlog is delivered once the receiver is back, ingest resumes with the log still there', async ({
    skip,
  }) => {
    const rig = await rigOrSkip(skip, { name: 'outage', diskBytes: DISK, answering: true });
    // Delivered events kept for the log (keepDeliveredHours 24) take room on the disk.
    const before = 600;
    await rig.publish(0, before);
    await waitAllDelivered(rig, before);
    await waitForStatus(rig, (s) => s.outbox.pending === 0, 'the first readings settled');

    rig.receiverDown();
    rig.disk!.fill(256 * 1024); // and it stays: the agent must find room itself
    const total = 2400;
    const publishing = rig.publish(before, total - before);
    const full = await waitForStatus(
      rig,
      (s) => s.outbox.disk?.state === 'full' && s.outbox.prunedForDisk > 0,
      'the disk full, with delivered events pruned for room',
      30_000,
    );
    expect(full.outbox.dropped).toBe(0);
    expect(full.outbox.prunedForDisk).toBeLessThanOrEqual(full.outbox.delivered);
    await waitAlive(rig, () => rig.logged(FULL_LINE) >= 1, `"${FULL_LINE}" logged`, 5_000);
    await publishing;
    expectAlive(rig);

    rig.receiverUp();
    await waitAllDelivered(rig, total);
    await waitAlive(rig, () => rig.logged(ROOM_LINE) >= 1, `"${ROOM_LINE}" logged`, 5_000);
    await expectPromiseKept(rig, total);
  }, 90_000);

  it('a full disk at start-up: the agent starts, reports the disk full, delivers what it holds, and resumes ingest once there is room', async ({
    skip,
  }) => {
    const rig = await rigOrSkip(skip, { name: 'startup', diskBytes: DISK, answering: false });
    const stored = 300;
    await rig.publish(0, stored);
    // Readings and at least one probe (how many of each were stored varies; the file says).
    await waitForStatus(rig, (s) => s.outbox.received > stored, 'the first readings stored');
    expect(await rig.agent.signal('SIGTERM')).toBe(0);
    expect(reserveFileBytes(rig)).toBe(rig.reserveBytes);
    const inFile = eventsInFile(rig);

    rig.disk!.fill(0);
    expect(rig.disk!.freeBytes()).toBeLessThan(64 * 1024);
    await rig.agent.start();
    const full = await waitForStatus(rig, (s) => s.outbox.disk?.state === 'full', 'the disk reported full');
    expect(full.outbox.pending).toBe(inFile.all);
    await waitAlive(rig, () => rig.logged(FULL_LINE) >= 1, `"${FULL_LINE}" logged`, 5_000);

    // Readings arriving now wait at the broker; what is stored goes out while the disk is full.
    const total = 600;
    const publishing = rig.publish(stored, total - stored);
    rig.receiverUp();
    await waitAlive(
      rig,
      () => rig.readings().length >= inFile.readings,
      'the stored readings delivered on a full disk',
      30_000,
    );
    await publishing;

    rig.disk!.drain();
    await waitAllDelivered(rig, total);
    // One line per change of state: pruning may free room inside the database while the disk is
    // still full (ingest resumes, then holds again), so a hold can come more than once, each
    // ended by exactly one resume.
    await waitAlive(
      rig,
      () => rig.logged(ROOM_LINE) >= 1 && rig.logged(ROOM_LINE) === rig.logged(FULL_LINE),
      `"${ROOM_LINE}" logged once per "${FULL_LINE}"`,
      5_000,
    );
    await expectPromiseKept(rig, total);
  }, 90_000);
});

/**
 * EIO from the disk (a dying SD card) while readings stream in: the shim fails writes, or
 * syncs, of edgehook.db and its -wal for a while. A backlog built while the receiver answered
 * 503 is delivered during the fault, so delivery results must be recorded then (their commits
 * run from timers). Ingest must hold (no ack for what is not durable), delivery must go on, and
 * ingest must resume by itself once the disk answers again.
 */
async function eioWhileStreaming(rig: Rig, op: 'write' | 'fsync'): Promise<void> {
  const eio = rig.eio!;
  const total = 1500;
  const progress = { published: 0 };
  const publishing = rig.publish(0, total, progress, 300);
  try {
    await waitForStatus(rig, (s) => s.outbox.received >= 300, 'a backlog stored', 20_000);
    eio.on([op]);
    rig.receiverUp();
    const before = {
      received: (await rig.status()).outbox.received,
      published: progress.published,
      delivered: rig.readings().length,
    };
    await waitAlive(
      rig,
      () =>
        eio.faults().length >= 3 &&
        progress.published >= before.published + 450 &&
        rig.readings().length >= before.delivered + 100,
      `at least 3 failed ${op} calls, 450 more readings at the broker and 100 of the backlog delivered`,
      20_000,
    );
    // Nothing is acked that is not durable, so the broker stops at its in-flight window
    // (max_inflight_messages 100) instead of handing over all 450.
    const during = await waitForStatus(rig, (s) => s.mqtt.held > 0, 'ingest to hold while the disk fails');
    expect(
      during.outbox.received - before.received,
      'events stored since the disk began to fail, with acks held',
    ).toBeLessThanOrEqual(150);
    expectAlive(rig);
    eio.off();
    await publishing;
    await waitAllDelivered(rig, total);
    expect(eio.faults().every((f) => f.startsWith(`${op} `))).toBe(true);
    await expectPromiseKept(rig, total);
  } catch (err) {
    const faults = eio.faults();
    (err as Error).message += `\n(${faults.length} faults injected: ${faults.slice(0, 5).join('; ')}…)`;
    throw err;
  }
}

describe('failing writes: EIO (LD_PRELOAD shim)', () => {
  it('EIO on a write of the database or its WAL: ingest holds, nothing acked is lost, all delivered in order afterwards', async ({
    skip,
  }) => {
    await eioWhileStreaming(
      await rigOrSkip(skip, { name: 'eio-write', eio: true, answering: false }),
      'write',
    );
  }, 90_000);

  it('EIO on an fsync of the database or its WAL: no ack before a sync succeeds, all delivered in order afterwards', async ({
    skip,
  }) => {
    await eioWhileStreaming(
      await rigOrSkip(skip, { name: 'eio-fsync', eio: true, answering: false }),
      'fsync',
    );
  }, 90_000);
});
