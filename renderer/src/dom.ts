/**
 * A few DOM helpers instead of a framework. Text always goes in through text nodes, never
 * innerHTML: error messages and response snippets come from remote servers and must not run.
 */

type Child = Node | string | number | null | undefined | false;
type Handler = (ev: Event) => void;
export type Attrs = Record<string, string | number | boolean | Handler | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    } else if (name === 'class') {
      el.className = String(value);
    } else if (name === 'for') {
      (el as HTMLLabelElement).htmlFor = String(value);
    } else if (name === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(value);
    } else if (name === 'checked' || name === 'disabled') {
      (el as HTMLInputElement)[name] = Boolean(value);
    } else if (name === 'selected') {
      (el as HTMLOptionElement).selected = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(
      typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c,
    );
  }
}

export function clear(el: Element): void {
  el.replaceChildren();
}

let idCounter = 0;
/** Unique element ids, for <label for> and aria-describedby. */
export function uid(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A scrollable wrapper: wide tables scroll inside it instead of widening the page. */
export function tableWrap(table: HTMLTableElement, label: string): HTMLElement {
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

/** A header ending in "#" (e.g. "Queue#") is a numeric column: right-aligned like its cells. */
export function table(headers: string[], rows: HTMLTableRowElement[], empty: string): HTMLTableElement {
  const body = h('tbody', {});
  if (rows.length === 0)
    append(body, h('tr', { class: 'empty' }, h('td', { colspan: headers.length }, empty)));
  else append(body, ...rows);
  const ths = headers.map((t) =>
    t.endsWith('#') ? h('th', { scope: 'col', class: 'num' }, t.slice(0, -1)) : h('th', { scope: 'col' }, t),
  );
  return h('table', {}, h('thead', {}, h('tr', {}, ...ths)), body);
}

export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'muted' | 'info'): HTMLElement {
  return h('span', { class: `badge badge-${tone}` }, text);
}

/** A polite live region for the result of an action ("Test event queued…"). */
export function notice(): {
  el: HTMLElement;
  show: (msg: string | Node, tone?: 'ok' | 'bad' | 'info') => void;
  hide: () => void;
} {
  const el = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite', hidden: true });
  return {
    el,
    show(msg, tone = 'ok') {
      el.className = `notice notice-${tone}`;
      el.replaceChildren(typeof msg === 'string' ? document.createTextNode(msg) : msg);
      el.hidden = false;
    },
    hide() {
      el.hidden = true;
      el.replaceChildren();
    },
  };
}

export function button(label: string, onClick: (ev: Event) => void, attrs: Attrs = {}): HTMLButtonElement {
  return h('button', { type: 'button', ...attrs, onclick: onClick }, label);
}
