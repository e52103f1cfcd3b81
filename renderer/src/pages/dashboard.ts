import type { AgentStatus } from '../../../src/admin/api-types.js';
import { api, describeError } from '../api.js';
import { badge, button, h, notice, table, tableWrap } from '../dom.js';
import { formatAge, formatBytes, formatRelative, formatTime } from '../format.js';
import { card, pageHeader, type Page } from '../page.js';
import { href } from '../router.js';
import { stream } from '../stream.js';
import { STATE_TONE } from './health-tone.js';
import { RatesChart } from './rates-chart.js';
import { sparkplugTable } from './sparkplug-nodes.js';

/**
 * The agent at a glance: broker, outbox counters, the live in/out chart, each endpoint's health
 * and queue, and the rejected events waiting for someone to look at them.
 */

export const dashboardPage: Page = (main) => {
  const stats = h('div', { class: 'stats' });
  const endpoints = h('div', {});
  const rejected = h('div', {});
  const rejectedNotice = notice();
  const chart = new RatesChart(stream.rates);
  const rejectedCard = card(
    'Rejected events',
    h(
      'p',
      { class: 'muted' },
      'Payloads that did not parse as their subscription declares. They were acked, kept, and can be sent on.',
    ),
    rejected,
  );
  rejectedCard.hidden = true;
  const sparkplug = h('div', {});
  // Shown only while a subscription decodes Sparkplug B (the status then carries `sparkplug`).
  const sparkplugCard = card('Sparkplug B nodes', sparkplug);
  sparkplugCard.hidden = true;

  main.append(
    pageHeader('Dashboard'),
    stats,
    card('Events per second', chart.el),
    card('Endpoints', endpoints),
    sparkplugCard,
    // Outside the card: redelivering the last rejected event empties and hides the card.
    rejectedNotice.el,
    rejectedCard,
  );
  chart.mount();

  let lastRejected = -1;
  const draw = (s: AgentStatus) => {
    stats.replaceChildren(...statTiles(s));
    endpoints.replaceChildren(endpointTable(s));
    sparkplugCard.hidden = s.sparkplug === undefined;
    if (s.sparkplug) sparkplug.replaceChildren(sparkplugTable(s.sparkplug));
    if (s.outbox.rejected !== lastRejected) {
      lastRejected = s.outbox.rejected;
      void loadRejected();
    }
  };

  const loadRejected = async () => {
    try {
      const { items } = await api.rejectedEvents(10);
      rejectedCard.hidden = items.length === 0;
      rejected.replaceChildren(
        tableWrap(
          table(
            ['Seq#', 'Received', 'Topic', 'Reason', 'Payload', ''],
            items.map((e) =>
              h(
                'tr',
                {},
                h('td', { class: 'num' }, e.seq),
                h('td', { class: 'nowrap' }, formatTime(e.receivedAt)),
                h('td', { class: 'mono' }, e.topic),
                h('td', { class: 'wrap wide' }, e.reason),
                h('td', { class: 'wrap' }, h('code', { class: 'snippet' }, e.preview)),
                h(
                  'td',
                  {},
                  button('Redeliver', async () => {
                    try {
                      const r = await api.redeliver(e.seq);
                      rejectedNotice.show(
                        r.endpoints.length > 0
                          ? `Event ${e.seq} queued to ${r.endpoints.join(', ')}.`
                          : `Event ${e.seq} matches no endpoint's types: kept as unrouted.`,
                      );
                    } catch (err) {
                      rejectedNotice.show(`Could not redeliver event ${e.seq}: ${describeError(err)}`, 'bad');
                    }
                  }),
                ),
              ),
            ),
            'No rejected events.',
          ),
          'Rejected events',
        ),
      );
    } catch {
      // The counter above still shows how many; the list is a convenience.
      rejectedCard.hidden = true;
    }
  };

  const offStatus = stream.on('status', draw);
  const offRates = stream.on('rates', (r) => chart.push(r));
  let timer = 0;
  const refresh = () => {
    api
      .status()
      .then(draw)
      .catch((err) => {
        stats.replaceChildren(
          h('p', { class: 'form-error' }, `Could not read the agent's status: ${describeError(err)}`),
        );
      });
  };
  refresh();
  // The stream pushes changes; polling slowly covers a stream that is down or not yet there.
  timer = window.setInterval(() => {
    if (!stream.connected) refresh();
  }, 3000);

  return () => {
    offStatus();
    offRates();
    window.clearInterval(timer);
    chart.destroy();
  };
};

function tile(
  label: string,
  value: string | number,
  detail?: Node | string | null,
  tone?: 'ok' | 'warn' | 'bad',
): HTMLElement {
  return h(
    'div',
    { class: `stat${tone ? ` stat-${tone}` : ''}` },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, value),
    detail ? h('div', { class: 'stat-detail' }, detail) : null,
  );
}

type Disk = AgentStatus['outbox']['disk'];

function diskHolding(d: Disk | undefined): d is Disk {
  return d !== undefined && d.state !== 'ok';
}

function diskHoldingReason(d: Disk): string {
  const free = d.freeBytes === null ? '' : `, ${formatBytes(d.freeBytes)} free`;
  if (d.state === 'io-error') return `the disk reports I/O errors${free}`;
  if (d.reason === 'min-free') return `less than storage.minFreeBytes free${free}`;
  return `the disk is full${free}`;
}

function statTiles(s: AgentStatus): HTMLElement[] {
  const o = s.outbox;
  const used = o.maxBytes > 0 ? Math.min(100, (o.bytes / o.maxBytes) * 100) : 0;
  const meter = h(
    'div',
    {
      class: 'meter',
      role: 'meter',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.round(used),
      'aria-label': 'Storage used',
    },
    h('div', { class: 'meter-fill' }),
  );
  (meter.firstChild as HTMLElement).style.width = `${used}%`;
  return [
    tile(
      'Broker',
      s.mqtt.connected ? 'Connected' : 'Disconnected',
      h(
        'span',
        { class: 'mono' },
        `${s.mqtt.embedded ? 'embedded · ' : ''}${s.mqtt.url}${s.mqtt.holding ? ' · holding (storage full)' : ''}`,
      ),
      s.mqtt.connected ? 'ok' : 'bad',
    ),
    tile(
      'Pending',
      o.pending,
      `waiting for ${s.endpoints.filter((e) => e.pending > 0).length} of ${s.endpoints.length} endpoints`,
      o.pending > 0 ? 'warn' : undefined,
    ),
    tile(
      'Oldest undelivered',
      o.oldestPendingAgeSeconds === null ? 'none' : formatAge(o.oldestPendingAgeSeconds),
      'age of the oldest pending event',
      o.oldestPendingAgeSeconds !== null && o.oldestPendingAgeSeconds > 300 ? 'warn' : undefined,
    ),
    tile('Received', o.received, `${o.delivered} delivered`),
    tile(
      'Failed',
      o.failed,
      h('a', { href: href('deliveries', [], { status: 'failed' }) }, 'see failed deliveries'),
      o.failed > 0 ? 'bad' : undefined,
    ),
    tile('Rejected', o.rejected, 'payloads that did not parse', o.rejected > 0 ? 'warn' : undefined),
    tile(
      'Dropped',
      o.dropped,
      `${o.expired} expired · ${o.deleted} deleted`,
      o.dropped > 0 ? 'warn' : undefined,
    ),
    diskHolding(o.disk)
      ? tile(
          'Storage',
          'Disk full: holding',
          `${diskHoldingReason(o.disk)} · new messages wait at the broker; delivery goes on`,
          'bad',
        )
      : tile('Storage', formatBytes(o.bytes), h('span', {}, meter, `of ${formatBytes(o.maxBytes)}`)),
  ];
}

function endpointTable(s: AgentStatus): HTMLElement {
  const rows = s.endpoints.map((e) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('a', { href: href('deliveries', [], { endpoint: e.id }) }, e.id)),
      h('td', {}, badge(e.state, STATE_TONE[e.state] ?? 'muted')),
      h('td', { class: 'num' }, e.pending),
      h('td', { class: 'num' }, e.inFlight),
      h('td', { class: 'num' }, e.lastStatus ?? '—'),
      h(
        'td',
        { class: 'wrap wide' },
        e.lastError ?? '',
        e.backoffUntil && e.state === 'backing-off'
          ? h('div', { class: 'muted' }, `next probe ${formatRelative(e.backoffUntil)}`)
          : null,
        e.blockedBy
          ? h(
              'div',
              { class: 'muted' },
              `waiting on event ${e.blockedBy.seq}, next try ${formatRelative(e.blockedBy.nextAttemptAt)}`,
            )
          : null,
      ),
    ),
  );
  return tableWrap(
    table(
      ['Endpoint', 'Health', 'Queue#', 'In flight#', 'Last status#', 'Last error'],
      rows,
      'No endpoints yet: add one on the Endpoints page.',
    ),
    'Endpoint health',
  );
}
