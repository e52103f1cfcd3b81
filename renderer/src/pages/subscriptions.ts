import type {
  AgentStatus,
  SubscriptionCountsView,
  SubscriptionInput,
  SubscriptionView,
} from '../../../src/admin/api-types.js';
import { api, describeError } from '../api.js';
import { button, h, notice, table, tableWrap } from '../dom.js';
import { Form } from '../form.js';
import { card, loading, pageHeader, type Page } from '../page.js';
import { href, navigate } from '../router.js';
import { stream } from '../stream.js';
import { eventTypeProblem, topicFilterProblem } from '../validate.js';
import { StepsEditor } from './steps-editor.js';
import { tryPanel } from './steps-try.js';

/**
 * Subscriptions: which MQTT topic filters the agent takes in and the event type each becomes.
 * Saved into the config file by the server, comments kept.
 */

let flash: string | undefined;

export const subscriptionsPage: Page = (main, route) => {
  const selected = route.rest[0];
  const listHost = h('div', {}, loading());
  const formHost = h('div', {});
  const result = notice();
  if (flash) result.show(flash);
  flash = undefined;
  main.append(
    pageHeader(
      'Subscriptions',
      button('Add subscription', () => navigate(href('subscriptions', ['new'])), { class: 'primary' }),
    ),
    result.el,
    formHost,
    card('All subscriptions', listHost),
  );

  let alive = true;
  // Each subscription's counts cell, by index, refreshed from the status stream.
  const countCells = new Map<number, HTMLElement>();
  const showCounts = (status: AgentStatus) => {
    (status.subscriptions ?? []).forEach((s, i) => {
      const cell = countCells.get(i);
      if (cell && cell.dataset.topic === s.topic) cell.replaceChildren(countsText(s.counts));
    });
  };
  const offStatus = stream.on('status', showCounts);
  const load = async () => {
    let subs: SubscriptionView[];
    try {
      subs = await api.subscriptions();
    } catch (err) {
      listHost.replaceChildren(
        h('p', { class: 'form-error' }, `Could not load the subscriptions: ${describeError(err)}`),
      );
      return;
    }
    if (!alive) return;
    listHost.replaceChildren(listTable(subs, selected, result, countCells));
    api.status().then(showCounts, () => undefined);
    if (selected === 'new') formHost.replaceChildren(subscriptionForm(undefined));
    else if (selected !== undefined) {
      const sub = subs.find((s) => String(s.index) === selected);
      formHost.replaceChildren(
        sub
          ? subscriptionForm(sub)
          : card(null, h('p', { class: 'form-error' }, `No subscription #${selected}.`)),
      );
    } else formHost.replaceChildren();
  };
  void load();
  return () => {
    alive = false;
    offStatus();
  };
};

function listTable(
  subs: SubscriptionView[],
  selected: string | undefined,
  result: ReturnType<typeof notice>,
  countCells: Map<number, HTMLElement>,
): HTMLElement {
  countCells.clear();
  const rows = subs.map((s) => {
    const counts = h('td', { class: 'counts', 'data-topic': s.topic }, h('span', { class: 'muted' }, '…'));
    countCells.set(s.index, counts);
    let armed = false;
    const del = button('Delete', async () => {
      if (!armed) {
        armed = true;
        del.textContent = 'Click again to delete';
        del.classList.add('danger');
        return;
      }
      try {
        await api.deleteSubscription(s.index);
        flash = `Deleted the subscription to ${s.topic}. The agent no longer takes it in.`;
        navigate(href('subscriptions'));
      } catch (err) {
        result.show(`Could not delete it: ${describeError(err)}`, 'bad');
      }
    });
    return h(
      'tr',
      { class: String(s.index) === selected ? 'selected' : '' },
      h('td', { class: 'num' }, s.index + 1),
      h('th', { scope: 'row', class: 'mono' }, s.topic),
      h('td', { class: 'mono' }, s.type ?? h('span', { class: 'muted' }, s.topic.replace(/\//g, '.'))),
      h('td', { class: 'num' }, s.qos),
      h('td', {}, s.payload),
      h('td', { class: 'num' }, s.steps?.length ?? 0),
      counts,
      h(
        'td',
        { class: 'row-actions' },
        h('a', { class: 'button', href: href('subscriptions', [s.index]) }, 'Edit'),
        del,
      ),
    );
  });
  return tableWrap(
    table(
      ['##', 'Topic', 'Type', 'QoS level#', 'Payload', 'Steps#', 'Counts', ''],
      rows,
      'No subscriptions: the agent takes in nothing. Add one.',
    ),
    'Subscription list',
  );
}

function subscriptionForm(existing: SubscriptionView | undefined): HTMLElement {
  const form = new Form(
    existing ? `Edit subscription ${existing.index + 1}` : 'New subscription',
    async () => {
      const input = edited();
      const saved = existing
        ? await api.updateSubscription(existing.index, input)
        : await api.createSubscription(input);
      flash = `Saved the subscription to ${saved.topic}. It takes effect now, and the config file keeps your comments.`;
      navigate(href('subscriptions'));
    },
  );
  const topic = form.add({
    name: 'topic',
    label: 'Topic filter',
    value: existing?.topic ?? '',
    required: true,
    placeholder: 'sensors/+/temperature',
    check: (v) => topicFilterProblem(v.trim()),
    hint: '"+" matches one level, "#" the rest; $share/<group>/<filter> shares the load.',
  });
  const type = form.add({
    name: 'type',
    label: 'Event type',
    value: existing?.type ?? '',
    placeholder: 'sensor.{1}.temperature',
    check: (v) => eventTypeProblem(v.trim(), topic.value.trim()),
    hint: '{1}, {2}… stand for the levels the wildcards matched. Empty: the topic with "/" as ".".',
  });
  const qos = form.add({
    name: 'qos',
    label: 'QoS',
    kind: 'select',
    value: String(existing?.qos ?? 1),
    options: [
      ['0', '0: at most once'],
      ['1', '1: at least once (acked after it is stored)'],
      ['2', '2: exactly once to the agent'],
    ],
  });
  const payload = form.add({
    name: 'payload',
    label: 'Payload',
    kind: 'select',
    value: existing?.payload ?? 'json',
    options: [
      ['json', 'JSON (parsed into data)'],
      ['text', 'text'],
      ['binary', 'binary (base64)'],
      ['sparkplug', 'Sparkplug B (decoded to JSON)'],
    ],
  });
  const key = form.add({
    name: 'key',
    label: 'State key',
    value: existing?.key ?? '',
    placeholder: '{1}',
    check: (v) => eventTypeProblem(v.trim(), topic.value.trim()),
    hint: 'Which messages share step state, a template like the event type. Empty: each topic its own.',
  });
  const steps = new StepsEditor(form, existing?.steps);
  /** The subscription as edited: what Save writes and what Try it runs. */
  const edited = (): SubscriptionInput => {
    const input: SubscriptionInput = {
      topic: topic.value.trim(),
      qos: Number(qos.value) as 0 | 1 | 2,
      payload: payload.value as 'json' | 'text' | 'binary' | 'sparkplug',
    };
    if (type.value.trim()) input.type = type.value.trim();
    if (key.value.trim()) input.key = key.value.trim();
    const list = steps.value();
    if (list.length > 0) input.steps = list;
    // Options the form has no field for yet stay as the file has them.
    if (existing?.sparkplug && input.payload === 'sparkplug') input.sparkplug = existing.sparkplug;
    return input;
  };
  topic.control.addEventListener('input', () => {
    type.recheck();
    key.recheck();
  });
  form.el.append(
    h('div', { class: 'grid-2' }, topic.row, type.row, qos.row, payload.row, key.row),
    steps.el,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('a', { class: 'button', href: href('subscriptions') }, 'Cancel'),
    ),
  );
  return card(
    existing ? `Edit subscription ${existing.index + 1}` : 'New subscription',
    form.el,
    tryPanel(form, edited),
  );
}

function countsText(c: SubscriptionCountsView): string {
  return `${c.messages} in · ${c.events} out · ${c.reported} reported · ${c.filtered} filtered · ${c.held} held · ${c.rejected} rejected`;
}
