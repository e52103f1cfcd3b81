import type {
  DeliveryDetail,
  DeliveryPage,
  DeliveryStatus,
  DeliveryView,
  EndpointView,
} from '../../../src/admin/api-types.js';
import { api, describeError, type DeliveryQuery } from '../api.js';
import { badge, button, h, notice, table, tableWrap, uid } from '../dom.js';
import {
  formatDuration,
  formatRelative,
  formatShortTime,
  formatTime,
  fromLocalInput,
  toLocalInput,
} from '../format.js';
import { card, pageHeader, type Page } from '../page.js';
import { href, replaceQuiet } from '../router.js';
import { stream } from '../stream.js';

/**
 * The delivery log: newest first, filtered by endpoint, status, type and time, paged with the
 * `before` cursor. A delivery opens to its attempts; failed ones can be retried or deleted, and
 * a time range can be replayed to an endpoint.
 */

const PAGE_SIZE = 50;
const STATUS_TONE: Record<DeliveryStatus, 'ok' | 'warn' | 'bad' | 'muted'> = {
  delivered: 'ok',
  pending: 'warn',
  failed: 'bad',
  expired: 'muted',
};
const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'failed', 'expired'];

interface Filters {
  endpoint: string;
  status: string;
  type: string;
  from: string;
  to: string;
}

export const deliveriesPage: Page = (main, route) => {
  const q = route.query;
  const result = notice();
  const listHost = h('div', { class: 'list-host' });
  const pager = h('div', { class: 'pager' });

  // Filter controls: plain labelled inputs; each change reloads the first page.
  const ctl = {
    endpoint: labelled('Endpoint', h('select', {}, h('option', { value: '' }, 'All endpoints'))),
    status: labelled(
      'Status',
      h(
        'select',
        {},
        h('option', { value: '' }, 'Any status'),
        ...STATUSES.map((s) => h('option', { value: s }, s)),
      ),
    ),
    type: labelled(
      'Event type',
      h('input', {
        type: 'text',
        placeholder: 'sensor.kitchen.temperature',
        spellcheck: 'false',
        autocomplete: 'off',
      }),
    ),
    from: labelled('From', h('input', { type: 'datetime-local', step: 1 })),
    to: labelled('To', h('input', { type: 'datetime-local', step: 1 })),
  };
  const initial: Filters = {
    endpoint: q.get('endpoint') ?? '',
    status: q.get('status') ?? '',
    type: q.get('type') ?? '',
    from: q.get('from') ? toLocalInput(Number(q.get('from'))) : '',
    to: q.get('to') ? toLocalInput(Number(q.get('to'))) : '',
  };
  for (const k of Object.keys(ctl) as (keyof Filters)[]) ctl[k].control.value = initial[k];
  if (initial.endpoint)
    ctl.endpoint.control.append(h('option', { value: initial.endpoint, selected: true }, initial.endpoint));

  const clearBtn = button('Clear filters', () => {
    for (const c of Object.values(ctl)) c.control.value = '';
    applyFilters();
  });

  // Replay a time range to one endpoint.
  const replayEndpoint = labelled('Target endpoint', h('select', {}));
  const replayFrom = labelled(
    'Range start',
    h('input', { type: 'datetime-local', step: 1, value: toLocalInput(Date.now() - 3600_000) }),
  );
  // Empty end: "now" at the moment Replay is clicked, not when the page was opened.
  const replayTo = labelled(
    'Range end',
    h('input', { type: 'datetime-local', step: 1, title: 'Empty: up to now' }),
  );
  const replayResult = notice();
  const replayBtn = button(
    'Replay',
    async () => {
      const id = replayEndpoint.control.value;
      const from = fromLocalInput(replayFrom.control.value);
      const to = replayTo.control.value === '' ? Date.now() : fromLocalInput(replayTo.control.value);
      if (!id) return replayResult.show('Choose the endpoint to replay to.', 'bad');
      if (from === undefined || to === undefined || from > to)
        return replayResult.show('Give a start and an end, the start first.', 'bad');
      replayBtn.disabled = true;
      try {
        const r = await api.replay(id, from, to);
        replayResult.show(`Queued ${r.count} event${r.count === 1 ? '' : 's'} again for ${id}.`);
        void reload();
      } catch (err) {
        replayResult.show(`Could not replay: ${describeError(err)}`, 'bad');
      } finally {
        replayBtn.disabled = false;
      }
    },
    { class: 'primary' },
  );

  main.append(
    pageHeader('Deliveries'),
    card(
      null,
      h(
        'div',
        { class: 'filters' },
        ctl.endpoint.row,
        ctl.status.row,
        ctl.type.row,
        ctl.from.row,
        ctl.to.row,
        h('div', { class: 'filter-actions' }, clearBtn),
      ),
    ),
    result.el,
    card(null, listHost, pager),
    card(
      'Replay a time range',
      h(
        'p',
        { class: 'muted' },
        'Queues every event received in the range again for one endpoint, if still kept (storage.keepDeliveredHours). An empty end means now. Receivers drop duplicates by webhook-id.',
      ),
      h(
        'div',
        { class: 'filters' },
        replayEndpoint.row,
        replayFrom.row,
        replayTo.row,
        h('div', { class: 'filter-actions' }, replayBtn),
      ),
      replayResult.el,
    ),
  );

  // Endpoint choices for the filter and the replay target.
  api
    .endpoints()
    .then((eps: EndpointView[]) => {
      const cur = ctl.endpoint.control.value;
      ctl.endpoint.control.replaceChildren(
        h('option', { value: '' }, 'All endpoints'),
        ...eps.map((e) => h('option', { value: e.id, selected: e.id === cur }, e.id)),
      );
      replayEndpoint.control.replaceChildren(
        ...eps.map((e) => h('option', { value: e.id, selected: e.id === cur }, e.id)),
      );
    })
    .catch(() => undefined);

  /** Cursors of the pages before this one, to go back to newer pages. */
  const cursors: (number | undefined)[] = [];
  let before: number | undefined = q.get('before') ? Number(q.get('before')) : undefined;
  const open = new Map<string, HTMLElement>();
  let alive = true;
  let loadSeq = 0;

  function filters(): DeliveryQuery {
    return {
      endpoint: ctl.endpoint.control.value || undefined,
      status: (ctl.status.control.value || undefined) as DeliveryStatus | undefined,
      type: ctl.type.control.value.trim() || undefined,
      from: fromLocalInput(ctl.from.control.value),
      to: fromLocalInput(ctl.to.control.value),
    };
  }

  function applyFilters(): void {
    cursors.length = 0;
    before = undefined;
    syncHash();
    void reload();
  }

  function syncHash(): void {
    const f = filters();
    replaceQuiet(
      href('deliveries', [], {
        endpoint: f.endpoint,
        status: f.status,
        type: f.type,
        from: f.from,
        to: f.to,
        before,
      }),
    );
  }

  async function reload(): Promise<void> {
    const mine = ++loadSeq;
    let page: DeliveryPage;
    try {
      page = await api.deliveries({ ...filters(), before, limit: PAGE_SIZE });
    } catch (err) {
      if (mine === loadSeq)
        listHost.replaceChildren(
          h('p', { class: 'form-error' }, `Could not load the deliveries: ${describeError(err)}`),
        );
      return;
    }
    if (!alive || mine !== loadSeq) return;
    listHost.replaceChildren(deliveryTable(page.items));
    const newer = button(
      'Newer',
      () => {
        before = cursors.pop();
        syncHash();
        void reload();
      },
      { disabled: before === undefined },
    );
    const older = button(
      'Older',
      () => {
        cursors.push(before);
        before = page.nextBefore ?? undefined;
        syncHash();
        void reload();
      },
      { disabled: page.nextBefore === null },
    );
    pager.replaceChildren(
      newer,
      h(
        'span',
        { class: 'muted' },
        before === undefined
          ? `Newest ${page.items.length}`
          : `${page.items.length} older than seq ${before}`,
      ),
      older,
    );
  }

  function deliveryTable(items: DeliveryView[]): HTMLElement {
    const body: HTMLTableRowElement[] = [];
    for (const d of items) {
      const key = `${d.endpointId}/${d.seq}`;
      const detailRow = h('tr', { class: 'detail-row', hidden: true }, h('td', { colspan: 9 }));
      const detailCell = detailRow.firstChild as HTMLTableCellElement;
      const detailsBtn = button('Details', () => toggle(), { 'aria-expanded': 'false' });
      const toggle = (force?: boolean) => {
        const show = force ?? detailRow.hidden;
        detailRow.hidden = !show;
        detailsBtn.setAttribute('aria-expanded', String(show));
        detailsBtn.textContent = show ? 'Hide' : 'Details';
        if (show) {
          open.set(key, detailCell);
          void loadDetail(d, detailCell);
        } else open.delete(key);
      };
      const retryBtn =
        d.status === 'delivered'
          ? null
          : button('Retry', async () => {
              retryBtn!.disabled = true;
              try {
                await api.retryDelivery(d.endpointId, d.seq);
                result.show(`Retrying event ${d.seq} to ${d.endpointId} now.`);
                void reload();
              } catch (err) {
                result.show(`Could not retry event ${d.seq}: ${describeError(err)}`, 'bad');
                retryBtn!.disabled = false;
              }
            });
      body.push(
        h(
          'tr',
          { 'data-key': key },
          h('td', { class: 'num' }, d.seq),
          h(
            'td',
            { class: 'nowrap' },
            h(
              'time',
              { datetime: new Date(d.receivedAt).toISOString(), title: formatTime(d.receivedAt) },
              formatShortTime(d.receivedAt),
            ),
          ),
          h('td', {}, d.endpointId),
          h('td', { class: 'mono' }, d.type),
          h('td', {}, badge(d.status, STATUS_TONE[d.status] ?? 'muted')),
          h('td', { class: 'num' }, d.attempts),
          h(
            'td',
            { class: 'wrap' },
            d.lastStatus !== null ? `HTTP ${d.lastStatus}` : '',
            d.lastError ? h('div', { class: 'muted' }, d.lastError) : null,
          ),
          h(
            'td',
            { class: 'nowrap' },
            d.status === 'pending' && d.nextAttemptAt ? formatRelative(d.nextAttemptAt) : '—',
          ),
          h('td', { class: 'row-actions' }, retryBtn, detailsBtn),
        ),
        detailRow,
      );
      if (open.has(key)) toggle(true);
    }
    return tableWrap(
      table(
        ['Seq#', 'Received', 'Endpoint', 'Type', 'Status', 'Attempts#', 'Last result', 'Next try', ''],
        body,
        'No deliveries match.',
      ),
      'Delivery log',
    );
  }

  async function loadDetail(d: DeliveryView, cell: HTMLElement): Promise<void> {
    if (!cell.firstChild) cell.append(h('p', { class: 'muted' }, 'Loading…'));
    let detail: DeliveryDetail;
    try {
      detail = await api.delivery(d.endpointId, d.seq);
    } catch (err) {
      cell.replaceChildren(
        h('p', { class: 'form-error' }, `Could not load the attempts: ${describeError(err)}`),
      );
      return;
    }
    const attempts = detail.attempts.map((a) =>
      h(
        'tr',
        {},
        h('td', { class: 'nowrap' }, formatShortTime(a.at)),
        h('td', {}, a.outcome),
        h('td', { class: 'num' }, a.status ?? '—'),
        h('td', { class: 'num nowrap' }, formatDuration(a.durationMs)),
        h('td', { class: 'wrap' }, a.error ?? ''),
        h('td', {}, a.response ? h('code', { class: 'snippet' }, a.response) : ''),
      ),
    );
    const canDelete = d.status === 'failed' || d.status === 'pending';
    let armed = false;
    const del = canDelete
      ? button('Delete', async () => {
          if (!armed) {
            armed = true;
            del!.textContent = 'Click again to delete';
            del!.classList.add('danger');
            return;
          }
          try {
            await api.deleteDelivery(d.endpointId, d.seq);
            result.show(`Deleted event ${d.seq} for ${d.endpointId} (counted as deleted).`);
            open.delete(`${d.endpointId}/${d.seq}`);
            void reload();
          } catch (err) {
            result.show(`Could not delete: ${describeError(err)}`, 'bad');
          }
        })
      : null;
    const bodyId = uid('body');
    cell.replaceChildren(
      h(
        'div',
        { class: 'delivery-detail' },
        h('p', { class: 'mono small' }, `${detail.delivery.eventId} · topic ${detail.delivery.topic}`),
        h('h3', {}, `Attempts (${detail.attempts.length})`),
        tableWrap(
          table(
            ['At', 'Outcome', 'Status#', 'Duration#', 'Error', 'Response'],
            attempts,
            'Not attempted yet.',
          ),
          `Attempts of event ${d.seq}`,
        ),
        h(
          'details',
          {},
          h('summary', { id: bodyId }, `Webhook body as sent (${detail.format})`),
          h(
            'p',
            { class: 'mono small' },
            `content-type: ${detail.contentType} · webhook-format: ${detail.format}`,
          ),
          // The exact bytes that were signed: not re-formatted (re-encoding could round numbers).
          h('pre', { class: 'body', 'aria-labelledby': bodyId }, detail.body),
        ),
        del ? h('div', { class: 'form-actions' }, del) : null,
      ),
    );
  }

  for (const c of [ctl.endpoint, ctl.status, ctl.from, ctl.to])
    c.control.addEventListener('change', applyFilters);
  let typeTimer = 0;
  ctl.type.control.addEventListener('input', () => {
    window.clearTimeout(typeTimer);
    typeTimer = window.setTimeout(applyFilters, 300);
  });

  // New attempts show up by themselves on the first page; older pages stay put while read.
  let refreshTimer = 0;
  const off = stream.on('delivery', () => {
    if (before !== undefined) return;
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(() => void reload(), 300);
  });

  void reload();
  return () => {
    alive = false;
    off();
    window.clearTimeout(refreshTimer);
    window.clearTimeout(typeTimer);
  };
};

function labelled<T extends HTMLInputElement | HTMLSelectElement>(
  label: string,
  control: T,
): { row: HTMLElement; control: T } {
  const id = uid('flt');
  control.id = id;
  return { row: h('div', { class: 'field' }, h('label', { for: id }, label), control), control };
}
