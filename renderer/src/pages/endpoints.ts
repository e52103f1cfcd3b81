import type { EndpointInput, EndpointView } from '../../../src/admin/api-types.js';
import { api, describeError } from '../api.js';
import { badge, button, h, notice, table, tableWrap } from '../dom.js';
import { Form, fieldset } from '../form.js';
import { formatTime } from '../format.js';
import { card, loading, pageHeader, type Page } from '../page.js';
import { href, navigate } from '../router.js';
import { stream } from '../stream.js';
import {
  httpUrlCheck,
  idCheck,
  intCheck,
  parseHeaders,
  positiveCheck,
  scheduleCheck,
  secretCheck,
  splitList,
  typesCheck,
} from '../validate.js';
import { STATE_TONE } from './health-tone.js';

/**
 * Endpoints: the list, an add/edit form, and the actions on one endpoint (test event, secret
 * rotation, revealing the secret, enable/disable, delete). Actions live on the endpoint's own
 * panel, so each button name appears once on the page.
 */

/** The body formats an endpoint can pin, each with what it is for. */
const FORMATS = [
  ['edgehook/1', "Edgehook's own envelope (the default), for receivers written for Edgehook."],
  [
    'cloudevents/1.0',
    'CloudEvents 1.0 JSON, for Knative Eventing, Azure Event Grid and receivers built with a CloudEvents SDK.',
  ],
] as const satisfies readonly (readonly [NonNullable<EndpointInput['format']>, string])[];

/** What the server returned once (a generated secret) to show after the page re-renders. */
let flash: { id: string; message: string; secret?: string } | undefined;

export const endpointsPage: Page = (main, route) => {
  const selected = route.rest[0];
  const listHost = h('div', {}, loading());
  const detailHost = h('div', {});
  main.append(
    pageHeader(
      'Endpoints',
      button('Add endpoint', () => navigate(href('endpoints', ['new'])), { class: 'primary' }),
    ),
    detailHost,
    card('All endpoints', listHost),
  );

  const stateCells = new Map<string, { state: HTMLElement; pending: HTMLElement }>();
  let alive = true;

  const load = async () => {
    let endpoints: EndpointView[];
    try {
      endpoints = await api.endpoints();
    } catch (err) {
      listHost.replaceChildren(
        h('p', { class: 'form-error' }, `Could not load the endpoints: ${describeError(err)}`),
      );
      return;
    }
    if (!alive) return;
    listHost.replaceChildren(listTable(endpoints, selected, stateCells));
    if (selected === 'new') {
      detailHost.replaceChildren(endpointForm(undefined));
    } else if (selected) {
      const ep = endpoints.find((e) => e.id === selected);
      detailHost.replaceChildren(
        ep
          ? endpointPanel(ep, load)
          : card(null, h('p', { class: 'form-error' }, `No endpoint "${selected}".`)),
      );
    } else {
      detailHost.replaceChildren();
    }
  };
  void load();

  const off = stream.on('status', (s) => {
    for (const e of s.endpoints) {
      const cells = stateCells.get(e.id);
      if (!cells) continue;
      cells.state.replaceChildren(badge(e.state, STATE_TONE[e.state] ?? 'muted'));
      cells.pending.textContent = String(e.pending);
    }
  });
  return () => {
    alive = false;
    off();
  };
};

function listTable(
  endpoints: EndpointView[],
  selected: string | undefined,
  stateCells: Map<string, { state: HTMLElement; pending: HTMLElement }>,
): HTMLElement {
  stateCells.clear();
  const rows = endpoints.map((e) => {
    const state = h('td', {}, badge(e.state, STATE_TONE[e.state] ?? 'muted'));
    const pending = h('td', { class: 'num' }, e.pending);
    stateCells.set(e.id, { state, pending });
    return h(
      'tr',
      { class: e.id === selected ? 'selected' : '' },
      h(
        'th',
        { scope: 'row' },
        h('a', { href: href('endpoints', [e.id]), 'aria-current': e.id === selected ? 'true' : null }, e.id),
      ),
      h('td', { class: 'mono wrap' }, e.url),
      h('td', {}, e.types.join(', ')),
      state,
      pending,
      h(
        'td',
        { class: 'mono nowrap' },
        e.secrets.length === 0 ? 'unsigned' : e.secrets.map((s) => s.masked).join(' + '),
      ),
      h('td', {}, e.enabled ? 'yes' : badge('disabled', 'muted')),
    );
  });
  return tableWrap(
    table(
      ['Endpoint', 'URL', 'Event types', 'Health', 'Queue#', 'Signing', 'Enabled'],
      rows,
      'No endpoints yet. Add one to start sending webhooks.',
    ),
    'Endpoint list',
  );
}

/** The add/edit form. `existing` undefined: a new endpoint. */
function endpointForm(existing: EndpointView | undefined): HTMLElement {
  const form = new Form(existing ? `Edit endpoint ${existing.id}` : 'New endpoint', async () => {
    const input = readInput();
    if (existing) {
      await api.updateEndpoint(existing.id, input);
      flash = { id: existing.id, message: `Saved ${existing.id}. It takes effect now.` };
      navigate(href('endpoints', [existing.id]));
    } else {
      const created = await api.createEndpoint(input);
      flash = created.secret
        ? {
            id: created.endpoint.id,
            message: `Added ${created.endpoint.id}. Its signing secret was generated; copy it now, it is shown this once:`,
            secret: created.secret,
          }
        : { id: created.endpoint.id, message: `Added ${created.endpoint.id}.` };
      navigate(href('endpoints', [created.endpoint.id]));
    }
  });

  const id = form.add({
    name: 'id',
    label: 'ID',
    value: existing?.id ?? '',
    required: true,
    check: idCheck,
    placeholder: 'cloud',
    readonly: existing !== undefined,
    hint: existing
      ? 'The ID names the endpoint in the log; it cannot change.'
      : 'A short name: letters, digits, ".", "_" or "-".',
  });
  const url = form.add({
    name: 'url',
    label: 'URL',
    kind: 'url',
    value: existing?.url ?? '',
    required: true,
    check: httpUrlCheck,
    placeholder: 'https://ingest.example.com/hooks',
  });
  const secret = form.add({
    name: 'secret',
    label: 'Secret',
    value: '',
    check: secretCheck,
    placeholder: existing
      ? (existing.secrets[0]?.masked ?? 'none: requests are unsigned')
      : 'whsec_… (empty: one is generated)',
    hint: existing
      ? 'Empty keeps the current secret. To change it without breaking receivers, use Rotate secret.'
      : 'Empty: a new whsec_ secret is generated and shown once.',
  });
  const types = form.add({
    name: 'types',
    label: 'Event types',
    value: (existing?.types ?? ['*']).join(', '),
    check: typesCheck,
    hint: 'Comma-separated; "*" for all, "sensor.*" for a prefix.',
  });
  const headers = form.add({
    name: 'headers',
    label: 'Custom headers',
    kind: 'textarea',
    value: Object.entries(existing?.headers ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
    placeholder: 'Authorization: Bearer …',
    hint: 'One "Name: value" per line.',
    check: (v) => parseHeaders(v).problem,
  });
  const timeout = form.add({
    name: 'timeoutMs',
    label: 'Timeout (ms)',
    kind: 'number',
    value: String(existing?.timeoutMs ?? 15000),
    check: intCheck('The timeout', 100, 600000),
  });
  const ordering = form.add({
    name: 'ordering',
    label: 'Ordering',
    kind: 'select',
    value: existing?.ordering ?? 'strict',
    options: [
      ['strict', 'strict: in order, one at a time'],
      ['parallel', 'parallel: several at once'],
    ],
  });
  const maxInFlight = form.add({
    name: 'maxInFlight',
    label: 'Max in flight',
    kind: 'number',
    value: String(existing?.maxInFlight ?? 8),
    check: intCheck('Max in flight', 1, 1024),
  });
  const schedule = form.add({
    name: 'retry.schedule',
    label: 'Retry schedule (seconds)',
    value: (existing?.retry.schedule ?? [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]).join(', '),
    check: scheduleCheck,
    hint: 'Wait after each rejected attempt; then the delivery fails.',
  });
  const maxAge = form.add({
    name: 'retry.maxAgeHours',
    label: 'Max age (hours)',
    kind: 'number',
    value: String(existing?.retry.maxAgeHours ?? 72),
    check: positiveCheck('Max age'),
  });
  const backoffMax = form.add({
    name: 'retry.backoffMaxSeconds',
    label: 'Backoff cap (seconds)',
    kind: 'number',
    value: String(existing?.retry.backoffMaxSeconds ?? 30),
    check: positiveCheck('The backoff cap'),
  });
  const format = form.add({
    name: 'format',
    label: 'Format',
    kind: 'select',
    value: existing?.format ?? 'edgehook/1',
    options: FORMATS.map(([value]) => [value, value] as const),
    hint: 'Applies to every request sent after Save, events already queued included.',
  });
  // One line on what each format is for, under the select (README "Payload formats and versioning").
  format.row.append(
    h(
      'ul',
      { class: 'field-hint format-lines' },
      ...FORMATS.map(([value, line]) => h('li', {}, h('code', {}, value), `: ${line}`)),
    ),
  );
  const enabled = form.add({
    name: 'enabled',
    label: 'Enabled',
    kind: 'checkbox',
    value: existing?.enabled ?? true,
  });

  function readInput(): EndpointInput {
    const input: EndpointInput = {
      id: id.value.trim(),
      url: url.value.trim(),
      types: splitList(types.value),
      headers: parseHeaders(headers.value).headers,
      ordering: ordering.value as EndpointInput['ordering'] & string,
      format: format.value as EndpointInput['format'] & string,
      enabled: enabled.checked,
      retry: {},
    };
    if (secret.value.trim()) input.secret = secret.value.trim();
    if (timeout.value.trim()) input.timeoutMs = Number(timeout.value);
    if (maxInFlight.value.trim()) input.maxInFlight = Number(maxInFlight.value);
    if (schedule.value.trim()) input.retry!.schedule = splitList(schedule.value).map(Number);
    if (maxAge.value.trim()) input.retry!.maxAgeHours = Number(maxAge.value);
    if (backoffMax.value.trim()) input.retry!.backoffMaxSeconds = Number(backoffMax.value);
    return input;
  }

  const more = h(
    'details',
    { class: 'more' },
    h('summary', {}, 'Delivery options'),
    fieldset('Request', headers.row, timeout.row),
    fieldset('Order and retries', ordering.row, maxInFlight.row, schedule.row, maxAge.row, backoffMax.row),
  );
  // An error on a field inside the closed <details> (from the server or from Save) opens it.
  const inner = [headers, timeout, ordering, maxInFlight, schedule, maxAge, backoffMax];
  new MutationObserver(() => {
    if (inner.some((f) => f.control.getAttribute('aria-invalid') === 'true')) more.open = true;
  }).observe(more, { subtree: true, attributes: true, attributeFilter: ['aria-invalid'] });

  form.el.append(
    h('div', { class: 'grid-2' }, id.row, url.row, secret.row, types.row),
    format.row,
    enabled.row,
    more,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('a', { class: 'button', href: href('endpoints', existing ? [existing.id] : []) }, 'Cancel'),
    ),
  );
  return card(existing ? `Edit ${existing.id}` : 'New endpoint', form.el);
}

/** One endpoint: its actions, then its form. */
function endpointPanel(ep: EndpointView, reload: () => Promise<void>): HTMLElement {
  const result = notice();
  const secretsBox = h('div', { class: 'secrets', hidden: true });

  const f = flash && flash.id === ep.id ? flash : undefined;
  flash = undefined;
  if (f) result.show(f.secret ? secretMessage(f.message, [f.secret]) : f.message);

  const test = button('Send test event', async () => {
    await busy(test, async () => {
      try {
        const r = await api.sendTest(ep.id);
        result.show(
          h(
            'span',
            {},
            `Test event queued: ${r.eventId} (seq ${r.seq}), sent as ${ep.format}. `,
            h('a', { href: href('deliveries', [], { endpoint: ep.id }) }, `See it in Deliveries`),
            '.',
          ),
        );
      } catch (err) {
        result.show(`Could not send a test event: ${describeError(err)}`, 'bad');
      }
    });
  });

  const overlap = h(
    'select',
    { id: 'rotate-window', class: 'inline-select' },
    ...[1, 24, 72, 168].map((n) =>
      h(
        'option',
        { value: n, selected: n === 24 },
        n === 1 ? '1 hour' : n < 48 ? `${n} hours` : `${n / 24} days`,
      ),
    ),
  );
  const rotate = button('Rotate secret', async () => {
    await busy(rotate, async () => {
      try {
        const r = await api.rotateSecret(ep.id, Number(overlap.value));
        // Shown after the panel re-renders with the new masked secrets.
        flash = {
          id: ep.id,
          message: `New secret for ${ep.id}; the previous one keeps signing beside it until ${formatTime(r.previousExpiresAt)}. Give the new one to the receiver before then. It is shown this once:`,
          secret: r.secret,
        };
        await reload();
      } catch (err) {
        result.show(`Could not rotate the secret: ${describeError(err)}`, 'bad');
      }
    });
  });

  const reveal = button('Reveal secret', async () => {
    if (!secretsBox.hidden) {
      secretsBox.hidden = true;
      secretsBox.replaceChildren();
      reveal.textContent = 'Reveal secret';
      return;
    }
    await busy(reveal, async () => {
      try {
        const r = await api.revealSecrets(ep.id);
        secretsBox.replaceChildren(
          r.secrets.length === 0
            ? h('p', {}, 'This endpoint has no secret: its requests are unsigned.')
            : secretList(r.secrets),
        );
        secretsBox.hidden = false;
        reveal.textContent = 'Hide secret';
      } catch (err) {
        result.show(`Could not reveal the secret: ${describeError(err)}`, 'bad');
      }
    });
  });

  const toggle = button(ep.enabled ? 'Disable' : 'Enable', async () => {
    await busy(toggle, async () => {
      try {
        await api.updateEndpoint(ep.id, { ...inputOf(ep), enabled: !ep.enabled });
        flash = {
          id: ep.id,
          message: ep.enabled
            ? `${ep.id} is disabled: its events wait until it is enabled again.`
            : `${ep.id} is enabled.`,
        };
        await reload();
      } catch (err) {
        result.show(`Could not ${ep.enabled ? 'disable' : 'enable'} ${ep.id}: ${describeError(err)}`, 'bad');
      }
    });
  });

  let armed = false;
  const del = button('Delete endpoint', async () => {
    if (!armed) {
      armed = true;
      del.textContent = 'Click again to delete';
      del.classList.add('danger');
      return;
    }
    await busy(del, async () => {
      try {
        await api.deleteEndpoint(ep.id);
        navigate(href('endpoints'));
      } catch (err) {
        result.show(`Could not delete ${ep.id}: ${describeError(err)}`, 'bad');
      }
    });
  });

  const actions = card(
    `Endpoint ${ep.id}`,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Health'),
      h('dd', {}, badge(ep.state, STATE_TONE[ep.state] ?? 'muted'), ` · ${ep.pending} in the queue`),
      h('dt', {}, 'Format'),
      h('dd', { class: 'mono' }, ep.format),
      h('dt', {}, 'Signing'),
      h(
        'dd',
        { class: 'mono' },
        ep.secrets.length === 0
          ? 'unsigned'
          : ep.secrets
              .map((s) => `${s.masked}${s.expiresAt ? ` (until ${formatTime(s.expiresAt)})` : ''}`)
              .join(', '),
      ),
    ),
    h(
      'div',
      { class: 'toolbar' },
      test,
      h(
        'span',
        { class: 'toolbar-group' },
        rotate,
        h('label', { for: 'rotate-window', class: 'inline-label' }, 'old one signs for'),
        overlap,
      ),
      reveal,
      toggle,
      del,
    ),
    secretsBox,
    result.el,
  );
  return h('div', { class: 'detail' }, actions, endpointForm(ep));
}

function inputOf(ep: EndpointView): EndpointInput {
  return {
    id: ep.id,
    url: ep.url,
    types: ep.types,
    headers: ep.headers,
    timeoutMs: ep.timeoutMs,
    ordering: ep.ordering,
    maxInFlight: ep.maxInFlight,
    format: ep.format,
    enabled: ep.enabled,
    retry: ep.retry,
  };
}

function secretList(secrets: string[]): HTMLElement {
  return h(
    'ul',
    { class: 'secret-list' },
    ...secrets.map((s) => {
      const copy = button('Copy', () => {
        void navigator.clipboard?.writeText(s).then(() => (copy.textContent = 'Copied'));
      });
      return h('li', {}, h('code', { class: 'secret' }, s), navigator.clipboard ? copy : null);
    }),
  );
}

function secretMessage(text: string, secrets: string[]): HTMLElement {
  return h('div', {}, h('p', {}, text), secretList(secrets));
}

async function busy(btn: HTMLButtonElement, fn: () => Promise<void>): Promise<void> {
  btn.disabled = true;
  try {
    await fn();
  } finally {
    btn.disabled = false;
  }
}
