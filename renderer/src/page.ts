import { h } from './dom.js';
import type { Route } from './router.js';

/** A page draws into `main` and returns what to undo when another page is shown. */
export type Page = (main: HTMLElement, route: Route) => (() => void) | undefined;

export function pageHeader(title: string, ...actions: (HTMLElement | null)[]): HTMLElement {
  return h(
    'div',
    { class: 'page-header' },
    h('h1', {}, title),
    h('div', { class: 'page-actions' }, ...actions),
  );
}

export function card(title: string | null, ...children: (Node | null | false | undefined)[]): HTMLElement {
  // No aria-label: Playwright's getByLabel also matches aria-labels, and field names such as
  // "ID" must stay unambiguous on every page.
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

export function loading(): HTMLElement {
  return h('p', { class: 'muted', role: 'status' }, 'Loading…');
}
