import { describe, expect, it } from 'vitest';
import {
  deriveTrayView,
  noticesBetween,
  type DeriveOptions,
  type TrayState,
} from '../../src/electron/tray-state.js';
import { endpoint, makeStatus } from './fakes.js';

const OPTS: DeriveOptions = { paused: false, disabledByConfig: new Set() };

describe('deriveTrayView', () => {
  it.each<[string, Parameters<typeof makeStatus>[0], Partial<DeriveOptions>, TrayState]>([
    ['all healthy, MQTT up', {}, {}, 'connected'],
    ['MQTT down', { connected: false }, {}, 'disconnected'],
    [
      'an endpoint just started backing off',
      { endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 1 })] },
      {},
      'backing-off',
    ],
    [
      'backing off for 4 failures is still a blip',
      { endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 4 })] },
      {},
      'backing-off',
    ],
    [
      '5 failures in a row is failing',
      { endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 5 })] },
      {},
      'failing',
    ],
    [
      'the threshold is configurable',
      { endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 2 })] },
      { failAfter: 2 },
      'failing',
    ],
    [
      'disabled by the receiver (410)',
      { endpoints: [endpoint('a', { state: 'disabled', lastStatus: 410 })] },
      {},
      'failing',
    ],
    [
      'disabled in the config is intended',
      { endpoints: [endpoint('a', { state: 'disabled' })] },
      { disabledByConfig: new Set(['a']) },
      'connected',
    ],
    [
      'failing outranks MQTT down',
      { connected: false, endpoints: [endpoint('a', { state: 'disabled' })] },
      {},
      'failing',
    ],
    [
      'MQTT down outranks backing off',
      { connected: false, endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 1 })] },
      {},
      'disconnected',
    ],
    ['paused by the user', { endpoints: [endpoint('a', { state: 'paused' })] }, { paused: true }, 'paused'],
    [
      'paused but failing shows failing',
      { endpoints: [endpoint('a', { state: 'disabled' })] },
      { paused: true },
      'failing',
    ],
    ['no endpoints at all', { endpoints: [] }, {}, 'connected'],
    ['deliveries held until the clock is set', { clockPlausible: false }, {}, 'backing-off'],
    [
      'an endpoint held by the clock',
      { endpoints: [endpoint('a', { heldByClock: true })] },
      {},
      'backing-off',
    ],
  ])('%s', (_name, status, opts, expected) => {
    expect(deriveTrayView(makeStatus(status), { ...OPTS, ...opts }).state).toBe(expected);
  });

  it('is "starting" before the agent answers', () => {
    expect(deriveTrayView(undefined, OPTS).state).toBe('starting');
  });

  it('summarises the state, the troubled endpoints and the counts', () => {
    const view = deriveTrayView(
      makeStatus({
        pending: 42,
        failed: 3,
        endpoints: [
          endpoint('cloud', { state: 'disabled', lastError: 'HTTP 410 Gone: endpoint disabled' }),
          endpoint('ok'),
        ],
      }),
      OPTS,
    );
    expect(view.summary).toBe('Edgehook: Delivery failing: cloud · 42 pending · 3 failed');
    expect(view.troubles).toEqual([
      { id: 'cloud', reason: 'disabled', detail: 'HTTP 410 Gone: endpoint disabled' },
    ]);
  });

  it('says when deliveries wait for the system clock rather than for an endpoint', () => {
    expect(deriveTrayView(makeStatus({ clockPlausible: false, pending: 3 }), OPTS).summary).toBe(
      'Edgehook: Waiting for the system clock · 3 pending',
    );
    expect(
      deriveTrayView(
        makeStatus({ endpoints: [endpoint('a', { state: 'backing-off', consecutiveFailures: 1 })] }),
        OPTS,
      ).summary,
    ).toBe('Edgehook: Endpoint retrying · 0 pending');
  });
});

describe('noticesBetween', () => {
  const healthy = deriveTrayView(makeStatus(), OPTS);
  const failing = deriveTrayView(
    makeStatus({
      endpoints: [
        endpoint('cloud', { state: 'backing-off', consecutiveFailures: 7, lastError: 'ECONNREFUSED' }),
      ],
    }),
    OPTS,
  );
  const disabled = deriveTrayView(
    makeStatus({ endpoints: [endpoint('cloud', { state: 'disabled', lastError: null })] }),
    OPTS,
  );

  it('tells when an endpoint starts failing, once', () => {
    expect(noticesBetween(healthy, failing)).toEqual([
      { title: 'Endpoint "cloud" is failing', body: 'ECONNREFUSED' },
    ]);
    expect(noticesBetween(failing, failing)).toEqual([]);
  });

  it('tells when a failing endpoint is then disabled', () => {
    expect(noticesBetween(failing, disabled)).toEqual([
      { title: 'Endpoint "cloud" was disabled', body: 'Its receiver asked to stop deliveries.' },
    ]);
  });

  it('says nothing on recovery', () => {
    expect(noticesBetween(failing, healthy)).toEqual([]);
  });

  it('says nothing about the state found at start-up', () => {
    expect(noticesBetween(undefined, failing)).toEqual([]);
    expect(noticesBetween(deriveTrayView(undefined, OPTS), failing)).toEqual([]);
  });

  it('counts newly dead-lettered deliveries', () => {
    const before = deriveTrayView(makeStatus({ failed: 2 }), OPTS);
    const after = deriveTrayView(makeStatus({ failed: 5 }), OPTS);
    expect(noticesBetween(before, after)).toEqual([
      {
        title: '3 deliveries failed',
        body: 'They ran out of retries. Open Edgehook to see why and replay them.',
      },
    ]);
    expect(noticesBetween(after, before)).toEqual([]);
  });
});
