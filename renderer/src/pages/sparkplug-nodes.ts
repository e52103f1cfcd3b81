import type { SparkplugStatusView } from '../../../src/admin/api-types.js';
import { badge, h, table, tableWrap } from '../dom.js';
import { formatTime } from '../format.js';

/**
 * Sparkplug B edge nodes and their devices as the agent learnt them from BIRTH and DEATH
 * messages (README, "Sparkplug B input"): online or offline, and when each was last born.
 */
export function sparkplugTable(view: SparkplugStatusView): HTMLElement {
  const state = (online: boolean) => badge(online ? 'online' : 'offline', online ? 'ok' : 'bad');
  const rows: HTMLTableRowElement[] = [];
  for (const n of view.nodes) {
    rows.push(
      h(
        'tr',
        { 'data-sparkplug': `${n.group}/${n.node}` },
        h('th', { scope: 'row', class: 'mono' }, `${n.group}/${n.node}`),
        h('td', {}, 'edge node'),
        h('td', {}, state(n.online)),
        h('td', { class: 'nowrap' }, n.birthAt === null ? 'never' : formatTime(n.birthAt)),
      ),
    );
    for (const d of n.devices)
      rows.push(
        h(
          'tr',
          { 'data-sparkplug': `${n.group}/${n.node}/${d.device}` },
          h('th', { scope: 'row', class: 'mono' }, `${n.group}/${n.node}/${d.device}`),
          h('td', {}, 'device'),
          h('td', {}, state(d.online)),
          h('td', { class: 'nowrap' }, d.birthAt === null ? 'never' : formatTime(d.birthAt)),
        ),
      );
  }
  return tableWrap(
    table(
      ['Node or device', 'Kind', 'State', 'Last BIRTH'],
      rows,
      'No Sparkplug B node seen yet: nodes appear at their first BIRTH or DEATH message.',
    ),
    'Sparkplug B nodes',
  );
}
