import { readFileSync, rmSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type { TryStepsResult } from '../../src/admin/api-types.js';
import { apiClient, startAgentWithFile } from '../admin/helpers.js';

/** POST /api/subscriptions/try: the steps' answer for one message, with nothing stored (README, "Edge processing"). */

let agent: Agent | undefined;
let dir = '';
afterEach(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('answers reported, filtered, held or rejected against the live state, stores nothing, and keeps steps in the file on edits', async () => {
  const started = await startAgentWithFile(`agentId: gw-try
mqtt: { url: embedded, embedded: { port: 0 } }
subscriptions:
  - topic: sensors/+/temperature
    type: sensor.{1}.temperature
    # the deadband keeps the last reported value per room
    steps:
      - deadband: { path: celsius, by: 0.5 }
admin: { port: 0 }
`);
  agent = started.agent;
  dir = started.dir;
  const api = apiClient(agent);
  const tryIt = (body: unknown) => api.post('/api/subscriptions/try', body);

  const first = await tryIt({
    subscription: 0,
    topic: 'sensors/hall/temperature',
    payload: '{"celsius": 20}',
  });
  expect(first.status).toBe(200);
  expect(first.body).toEqual({
    outcome: 'reported',
    events: [{ type: 'sensor.hall.temperature', topic: 'sensors/hall/temperature', data: { celsius: 20 } }],
  });
  // Nothing was kept: the same message is again the first of its key.
  expect(
    (
      (await tryIt({ subscription: 0, topic: 'sensors/hall/temperature', payload: '{"celsius": 20}' }))
        .body as TryStepsResult
    ).outcome,
  ).toBe('reported');
  expect(agent.status().outbox.received).toBe(0);

  const edited = {
    topic: 'sensors/+/temperature',
    steps: [{ window: { seconds: 60, path: 'celsius' } }, { map: '$.x' }],
  };
  expect(
    (
      (await tryIt({ subscription: edited, topic: 'sensors/a/temperature', payload: '{"celsius": 1}' }))
        .body as TryStepsResult
    ).outcome,
  ).toBe('held');
  const rejected = (
    await tryIt({ subscription: edited, topic: 'sensors/a/temperature', payload: '{"celsius": "x"}' })
  ).body as TryStepsResult;
  expect(rejected).toMatchObject({
    outcome: 'rejected',
    reason: expect.stringMatching(/^subscriptions\[0\]\.steps\[0\]\.window: /),
  });
  const bad = await tryIt({ subscription: { topic: 'a', steps: [{ map: '{' }] }, topic: 'a', payload: '{}' });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toMatch(/subscription\.steps\.0\.map.*not a JSONata expression/);

  // An edit through the API keeps the subscription's steps in the file.
  expect(
    (
      await api.put('/api/subscriptions/0', {
        topic: 'sensors/+/temperature',
        qos: 1,
        type: 'sensor.{1}.t',
        steps: [{ deadband: { path: 'celsius', by: 1 } }],
      })
    ).status,
  ).toBe(200);
  const text = readFileSync(started.file, 'utf8');
  expect(text).toContain('# the deadband keeps the last reported value per room');
  expect(text).toMatch(/deadband:[\s\S]*by: 1/);
});
