import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import type { SubscriptionView } from '../../src/admin/api-types.js';
import { apiClient, startAgentWithFile } from './helpers.js';

/**
 * Steps edited through the admin API (as the Subscriptions page saves them) are written into
 * the config file item by item (README, "Edge processing"): the comments of the steps an edit
 * leaves alone stay with them, wherever they move; a changed step is changed in place, so the
 * comments on its other keys stay too. A real agent, a real file on disk, real HTTP.
 */

let agent: Agent | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

const FILE = `agentId: gw-steps-comments
mqtt:
  url: embedded
  embedded: { host: 127.0.0.1, port: 0 }

subscriptions:
  # the kitchen thermometers
  - topic: sensors/+/temperature
    type: sensor.{1}.temperature
    key: "{1}"
    steps:
      # (A) readings outside the sensor's range are glitches
      - filter: "celsius > -40 and celsius < 125"   # (A-line) the datasheet's range
      # (B) only what the cloud reads
      - map: '{"celsius": celsius, "room": $levels[1]}'
      # (C) report by exception
      - deadband:
          path: celsius            # (C-path) the field
          by: 0.5                  # (C-by) half a degree
          maxSilenceSeconds: 300   # (C-silence) at least every five minutes
      # (D) one-minute averages
      - window: { seconds: 60, path: celsius }   # (D-line) aligned to the clock
    # (after the steps)
  - topic: other/#   # (other subscription)

admin: { port: 0 }
`;

type Step = Record<string, unknown>;
const A: Step = { filter: 'celsius > -40 and celsius < 125' };
const B: Step = { map: '{"celsius": celsius, "room": $levels[1]}' };
const C: Step = { deadband: { path: 'celsius', by: 0.5, maxSilenceSeconds: 300 } };
const D: Step = { window: { seconds: 60, path: 'celsius' } };

const ALL = [
  '(A)',
  '(A-line)',
  '(B)',
  '(C)',
  '(C-path)',
  '(C-by)',
  '(C-silence)',
  '(D)',
  '(D-line)',
  '(after the steps)',
  '(other subscription)',
  '# the kitchen thermometers',
];

/** The file's lines from `steps:` to the next subscription, comments included. */
function stepsText(file: string): string {
  const text = readFileSync(file, 'utf8');
  return text.slice(text.indexOf('    steps:'), text.indexOf('  - topic: other/#'));
}

/** Which of the markers (A), (B)… the file's steps hold, in the order they appear. */
function order(file: string): string[] {
  return [...stepsText(file).matchAll(/# \(([A-D])\)/g)].map((m) => m[1]!);
}

it('editing, reordering, removing and adding steps through the API keeps the comments of the steps (and keys) left alone', async () => {
  const started = await startAgentWithFile(FILE);
  agent = started.agent;
  const { file } = started;
  const api = apiClient(agent);
  const save = async (steps: Step[]) => {
    const res = await api.put<SubscriptionView>('/api/subscriptions/0', {
      topic: 'sensors/+/temperature',
      type: 'sensor.{1}.temperature',
      key: '{1}',
      steps,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.steps).toEqual(steps);
    // What the file says is what runs.
    expect(agent!.config.subscriptions[0]!.steps).toEqual(steps);
  };
  const has = (markers: string[]) => {
    const text = readFileSync(file, 'utf8');
    for (const m of markers) expect(text, `${m} in\n${text}`).toContain(m);
  };

  // 0. Saved as they are: the file keeps every comment.
  await save([A, B, C, D]);
  has(ALL);
  expect(order(file)).toEqual(['A', 'B', 'C', 'D']);

  // 1. One parameter of one step: changed in place, every comment kept (its own keys' too).
  const C2 = { deadband: { path: 'celsius', by: 0.25, maxSilenceSeconds: 300 } };
  await save([A, B, C2, D]);
  has(ALL);
  expect(stepsText(file)).toMatch(/by: 0\.25 +# \(C-by\) half a degree/);
  expect(order(file)).toEqual(['A', 'B', 'C', 'D']);

  // 2. Reordered: each step's comments move with it (the first one's too).
  await save([B, C2, A, D]);
  has(ALL);
  expect(order(file)).toEqual(['B', 'C', 'A', 'D']);
  expect(stepsText(file)).toMatch(
    /# \(A\)[^\n]*\n\s*- filter: "celsius > -40 and celsius < 125" +# \(A-line\)/,
  );
  expect(stepsText(file)).toMatch(/# \(B\)[^\n]*\n\s*- map: /);

  // 3. A step removed: only its comments go.
  await save([B, A, D]);
  has(ALL.filter((m) => !m.startsWith('(C')));
  expect(stepsText(file)).not.toContain('(C');
  expect(order(file)).toEqual(['B', 'A', 'D']);

  // 4. A step added (between others), a key of another changed, a third one's expression
  // changed (in place: its quotes and its line's comment stay): the rest is untouched.
  const D2 = { window: { seconds: 300, path: 'celsius' } };
  const A2 = { filter: 'celsius > -30 and celsius < 125' };
  await save([B, { throttle: { intervalMs: 1000 } }, A2, D2]);
  has(ALL.filter((m) => !m.startsWith('(C')));
  expect(order(file)).toEqual(['B', 'A', 'D']);
  expect(stepsText(file)).toMatch(/- filter: "celsius > -30 and celsius < 125" +# \(A-line\)/);
  expect(stepsText(file)).toMatch(/- window: \{ seconds: 300, path: celsius \} +# \(D-line\)/);
  expect(stepsText(file)).toMatch(/- throttle:\s+intervalMs: 1000/);

  // 5. A step whose kind changes in its place takes a new node; the others keep theirs.
  await save([B, { throttle: { intervalMs: 1000 } }, { split: 'readings' }, D2]);
  has(['(B)', '(D)', '(D-line)', '(after the steps)', '(other subscription)']);
  expect(order(file)).toEqual(['B', 'D']);
  expect(stepsText(file)).not.toContain('(A');

  // The file as a whole still loads to what runs (the agent validated it before writing).
  const again = await api.get<SubscriptionView[]>('/api/subscriptions');
  expect(again.body[0]!.steps).toEqual([B, { throttle: { intervalMs: 1000 } }, { split: 'readings' }, D2]);
  expect(again.body[1]!.topic).toBe('other/#');
});
