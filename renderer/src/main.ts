import './styles.css';
import 'uplot/dist/uPlot.min.css';
import { api, onUnauthorized } from './api.js';
import { h } from './dom.js';
import { currentRoute } from './router.js';
import { stream } from './stream.js';
import type { Page } from './page.js';
import { dashboardPage } from './pages/dashboard.js';
import { endpointsPage } from './pages/endpoints.js';
import { subscriptionsPage } from './pages/subscriptions.js';
import { deliveriesPage } from './pages/deliveries.js';
import { settingsPage } from './pages/settings.js';
import { desktopApi } from './desktop.js';

/** The admin UI shell: navigation, the login hint, and one page at a time (hash routing). */

const PAGES: { key: string; title: string; page: Page }[] = [
  { key: 'dashboard', title: 'Dashboard', page: dashboardPage },
  { key: 'endpoints', title: 'Endpoints', page: endpointsPage },
  { key: 'subscriptions', title: 'Subscriptions', page: subscriptionsPage },
  { key: 'deliveries', title: 'Deliveries', page: deliveriesPage },
  { key: 'settings', title: 'Settings', page: settingsPage },
];

const links = PAGES.map((p) => h('a', { href: `#/${p.key}`, 'data-page': p.key }, p.title));
const agentName = h('span', { class: 'agent-name' });
const live = h('span', { class: 'live', title: 'Live updates from the agent' }, 'Connecting…');
const authBanner = h(
  'div',
  { class: 'auth-banner', role: 'alert', hidden: true },
  h('strong', {}, 'Not signed in. '),
  'Open the login link printed by ',
  h('code', {}, 'edgehook run'),
  ' (it sets the session cookie), then come back to this page.',
);
const main = h('main', { id: 'main', tabindex: -1 });

const shell = h(
  'div',
  { class: 'shell' },
  h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Edgehook'),
    agentName,
    live,
  ),
  h('nav', { class: 'nav', 'aria-label': 'Main' }, h('ul', {}, ...links.map((a) => h('li', {}, a)))),
  h('div', { class: 'content' }, authBanner, main),
);

document.getElementById('app')!.replaceWith(shell);
if (desktopApi()) document.documentElement.classList.add('desktop');

onUnauthorized(() => {
  authBanner.hidden = false;
});

stream.on('connection', (up) => {
  live.textContent = up ? 'Live' : 'Reconnecting…';
  live.classList.toggle('live-up', up);
  if (up) authBanner.hidden = true;
});
stream.on('status', (s) => {
  agentName.textContent = s.agent.id;
});

let cleanup: (() => void) | undefined;

function show(): void {
  const route = currentRoute();
  const entry = PAGES.find((p) => p.key === route.page) ?? PAGES[0]!;
  for (const a of links) {
    if (a.dataset.page === entry.key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    cleanup?.();
  } catch {
    /* a page's cleanup must not keep the next page from showing */
  }
  main.replaceChildren();
  document.title = `${entry.title} · Edgehook`;
  cleanup = entry.page(main, route);
}

window.addEventListener('hashchange', show);
show();
stream.start();
api
  .status()
  .then((s) => {
    agentName.textContent = s.agent.id;
  })
  .catch(() => undefined);
