import type { SubscriptionInput, TryStepsResult } from '../../../src/admin/api-types.js';
import { ApiFailure, api, describeError } from '../api.js';
import { badge, button, h } from '../dom.js';
import type { Form } from '../form.js';

/**
 * The Try it panel: one message through the subscription's steps as edited (not yet saved),
 * against the agent's live step state (POST /api/subscriptions/try). Nothing is stored or
 * counted. Errors about the subscription go next to its fields; the rest show here.
 */

const TONE = { reported: 'ok', filtered: 'muted', held: 'info', rejected: 'bad' } as const;
const SAYS: Record<TryStepsResult['outcome'], string> = {
  reported: 'Reported: the steps would store these events.',
  filtered: 'Filtered: the steps would drop this message (counted as filtered).',
  held: 'Held: kept in step state for now (a throttle or a window emits it later).',
  rejected: 'Rejected: kept as a rejected event.',
};

/** A topic that the filter matches, to start from: each wildcard as a sample level. */
function sampleTopic(filter: string): string {
  const f = filter.replace(/^\$share\/[^/]+\//, '');
  return f
    .split('/')
    .map((l) => (l === '+' ? 'kitchen' : l === '#' ? 'sample' : l))
    .join('/');
}

export function tryPanel(form: Form, edited: () => SubscriptionInput): HTMLElement {
  const topicId = 'try-topic';
  const payloadId = 'try-payload';
  const topic = h('input', { id: topicId, type: 'text', spellcheck: 'false', autocomplete: 'off' });
  const payload = h('textarea', { id: payloadId, rows: 3, spellcheck: 'false' });
  payload.value = '{"celsius": 21.5}';
  const out = h('div', { class: 'try-result', role: 'status', 'aria-live': 'polite' });
  let busy = false;

  const run = async () => {
    if (busy) return;
    const sub = edited();
    if (topic.value.trim() === '') topic.value = sampleTopic(sub.topic);
    busy = true;
    out.replaceChildren(h('p', { class: 'muted' }, 'Trying…'));
    try {
      const res = await api.trySteps({
        subscription: sub,
        topic: topic.value.trim(),
        payload: payload.value,
      });
      out.replaceChildren(resultView(res));
    } catch (err) {
      out.replaceChildren(errorView(form, err));
    } finally {
      busy = false;
    }
  };

  return h(
    'section',
    { class: 'try-it', 'aria-label': 'Try it' },
    h('h3', {}, 'Try it'),
    h(
      'p',
      { class: 'field-hint' },
      'Runs one message through the steps as edited here, against the live step state. Nothing is stored or counted.',
    ),
    h(
      'div',
      { class: 'grid-2' },
      h('div', { class: 'field' }, h('label', { for: topicId }, 'Message topic'), topic),
      h('div', { class: 'field' }, h('label', { for: payloadId }, 'Message payload'), payload),
    ),
    h(
      'div',
      { class: 'form-actions' },
      button('Try it', () => void run()),
    ),
    out,
  );
}

function resultView(res: TryStepsResult): HTMLElement {
  return h(
    'div',
    { class: `try-outcome try-${res.outcome}` },
    h('p', {}, badge(res.outcome, TONE[res.outcome]), ' ', SAYS[res.outcome]),
    res.reason ? h('p', { class: 'form-error' }, res.reason) : null,
    ...res.events.map((e, i) =>
      h(
        'div',
        { class: 'try-event' },
        h('p', { class: 'mono' }, `Event ${i + 1}: ${e.type}`),
        h('pre', { class: 'mono' }, JSON.stringify(e.data, null, 2)),
      ),
    ),
  );
}

function errorView(form: Form, err: unknown): HTMLElement {
  if (!(err instanceof ApiFailure) || !err.fields) return h('p', { class: 'form-error' }, describeError(err));
  const mine: Record<string, string> = {};
  const others: string[] = [];
  for (const [path, msg] of Object.entries(err.fields)) {
    if (path.startsWith('subscription.') || path.startsWith('subscription[')) mine[path] = msg;
    else others.push(`${path}: ${msg}`);
  }
  if (Object.keys(mine).length > 0)
    form.showServerErrors(new ApiFailure(err.status, err.code, err.message, mine));
  return h(
    'p',
    { class: 'form-error' },
    others.length > 0
      ? `Could not try it: ${others.join('; ')}`
      : 'Could not try it: see the fields marked above.',
  );
}
