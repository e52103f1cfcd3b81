import mqtt from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { SECRET, startAgent } from '../helpers/agent.js';
import { waitFor } from '../helpers/net.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * Reads of the outbox that run from timers and callbacks (the delivery queue's refill and
 * retry sweep, the live stream's status ticks) when SQLite fails them. Before, each threw out
 * of its timer and took the process down; vitest fails a run on such an uncaught error, so each
 * of these tests fails against that code. The agent and its parts are real; only the failure
 * is injected, as the error better-sqlite3 throws for an I/O error.
 */

let agent: Agent | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await agent?.stop();
  await receiver?.stop();
  agent = undefined;
  receiver = undefined;
});

const yaml = (url: string, endpoint = '') => `
agentId: gw
mqtt: { url: embedded, embedded: { host: 127.0.0.1, port: 0 } }
subscriptions: [ { topic: 'd/#', qos: 1, type: 'dev' } ]
endpoints:
  - { id: cloud, url: '${url}', secret: ${SECRET}${endpoint} }
admin: { port: 0 }
`;

function ioError(): Error {
  return Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' });
}

describe('failing outbox reads never take the agent down', () => {
  it("the queue's refill (loadPending): logged, tried again, everything delivered in order", async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const outbox = agent.outbox!;
    const real = outbox.loadPending.bind(outbox);
    let failures = 0;
    vi.spyOn(outbox, 'loadPending').mockImplementation((...args) => {
      if (failures < 3) {
        failures++;
        throw ioError();
      }
      return real(...args);
    });
    const device = await mqtt.connectAsync(agent.broker!.url);
    for (let i = 0; i < 20; i++) await device.publishAsync('d/x', JSON.stringify({ i }), { qos: 1 });
    await device.endAsync();
    await waitFor(() => receiver!.delivered.length === 20, 'all 20 delivered', 15_000);
    expect(failures).toBe(3);
    expect(receiver.delivered.map((r) => (r.json.data as { i: number }).i)).toEqual([...Array(20).keys()]);
  });

  it('the retry sweep (loadDue) of a parallel endpoint: the parked delivery still goes out', async () => {
    receiver = await new Receiver([SECRET]).start();
    let first = true;
    receiver.respond = () => {
      if (first) {
        first = false;
        return { status: 400 };
      }
      return { status: 200 };
    };
    agent = await startAgent(yaml(receiver.url, ', ordering: parallel, retry: { schedule: [1] }'));
    const outbox = agent.outbox!;
    const real = outbox.loadDue.bind(outbox);
    let failures = 0;
    vi.spyOn(outbox, 'loadDue').mockImplementation((...args) => {
      if (failures < 2) {
        failures++;
        throw ioError();
      }
      return real(...args);
    });
    const device = await mqtt.connectAsync(agent.broker!.url);
    await device.publishAsync('d/x', '{"i":0}', { qos: 1 });
    await device.endAsync();
    await waitFor(() => receiver!.delivered.length === 1, 'the retried delivery', 15_000);
    expect(failures).toBe(2);
  });

  it('the live stream: a status tick that cannot read the outbox skips a frame, the stream goes on', async () => {
    receiver = await new Receiver([SECRET]).start();
    agent = await startAgent(yaml(receiver.url));
    const abort = new AbortController();
    const res = await fetch(`${agent.adminUrl}/api/stream`, {
      headers: { authorization: `Bearer ${agent.adminToken}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    let text = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
      } catch {
        /* aborted */
      }
    })();
    await waitFor(() => text.includes('event: status'), 'a first status frame');
    const counts = vi.spyOn(agent.outbox!, 'counts').mockImplementation(() => {
      throw ioError();
    });
    await waitFor(() => counts.mock.calls.length >= 3, 'a few failing ticks', 10_000);
    counts.mockRestore();
    const before = text.length;
    await waitFor(() => text.length > before && text.slice(before).includes('event: rates'), 'more frames');
    abort.abort();
    await reading;
  });
});
