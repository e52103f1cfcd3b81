import { ApiFailure, describeError } from './api.js';
import { h, uid } from './dom.js';
import type { Check } from './validate.js';

/**
 * Forms that validate as you type and put the server's `fields` errors (ApiError.fields) next
 * to the input they are about. Every input has a real <label for>, so screen readers and
 * Playwright's getByLabel find it by its visible name.
 */

export interface FieldOptions {
  /** The field's path in the API body ("url", "retry.schedule"); server errors map by it. */
  name: string;
  label: string;
  kind?: 'text' | 'url' | 'number' | 'password' | 'checkbox' | 'select' | 'textarea' | 'datetime-local';
  value?: string | boolean;
  options?: readonly (readonly [string, string])[];
  hint?: string;
  placeholder?: string;
  required?: boolean;
  check?: Check;
  autocomplete?: string;
  readonly?: boolean;
}

export type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export class Field {
  readonly row: HTMLElement;
  readonly control: Control;
  private readonly errorEl: HTMLElement;
  private touched = false;
  private serverError: string | undefined;

  constructor(readonly opts: FieldOptions) {
    const id = uid(`f-${opts.name.replace(/[^A-Za-z0-9]/g, '-')}`);
    const errorId = `${id}-error`;
    const hintId = `${id}-hint`;
    const kind = opts.kind ?? 'text';
    const described = [opts.hint ? hintId : '', errorId].filter(Boolean).join(' ');
    const common = {
      id,
      name: opts.name,
      'aria-describedby': described,
      required: opts.required ?? false,
      readonly: opts.readonly ?? false,
    };
    if (kind === 'select') {
      this.control = h(
        'select',
        common,
        ...(opts.options ?? []).map(([v, t]) => h('option', { value: v, selected: v === opts.value }, t)),
      );
    } else if (kind === 'textarea') {
      this.control = h('textarea', {
        ...common,
        rows: 3,
        placeholder: opts.placeholder,
        spellcheck: 'false',
      });
      this.control.value = String(opts.value ?? '');
    } else {
      this.control = h('input', {
        ...common,
        type: kind,
        placeholder: opts.placeholder,
        autocomplete: opts.autocomplete ?? 'off',
        spellcheck: kind === 'text' || kind === 'url' ? 'false' : null,
      });
      if (kind === 'checkbox') this.control.checked = opts.value === true;
      else this.control.value = String(opts.value ?? '');
    }
    this.errorEl = h('div', { class: 'field-error', id: errorId, hidden: true });
    const label = h('label', { for: id }, opts.label);
    const hint = opts.hint ? h('div', { class: 'field-hint', id: hintId }, opts.hint) : null;
    this.row =
      kind === 'checkbox'
        ? h('div', { class: 'field field-check' }, this.control, label, hint, this.errorEl)
        : h('div', { class: 'field' }, label, this.control, hint, this.errorEl);

    // Validate as you type; an untouched empty field stays quiet until the form is submitted.
    const onInput = () => {
      this.touched = true;
      this.serverError = undefined;
      this.refresh();
    };
    this.control.addEventListener('input', onInput);
    this.control.addEventListener('change', onInput);
    this.control.addEventListener('blur', () => {
      if (this.value !== '') this.touched = true;
      this.refresh();
    });
  }

  get value(): string {
    return this.control.value;
  }

  set value(v: string) {
    this.control.value = v;
  }

  get checked(): boolean {
    return (this.control as HTMLInputElement).checked;
  }

  /** The client-side problem, if any. */
  problem(): string | undefined {
    return this.opts.check?.(this.value);
  }

  setServerError(msg: string): void {
    this.serverError = msg;
    this.touched = true;
    this.refresh();
  }

  /** Marks the field as touched and shows its state; true when valid. */
  validate(): boolean {
    this.touched = true;
    return this.refresh();
  }

  /** Shows the current state again (when another field it depends on changed). */
  recheck(): void {
    this.refresh();
  }

  private refresh(): boolean {
    const msg = this.serverError ?? (this.touched ? this.problem() : undefined);
    this.errorEl.textContent = msg ?? '';
    this.errorEl.hidden = !msg;
    if (msg) this.control.setAttribute('aria-invalid', 'true');
    else this.control.removeAttribute('aria-invalid');
    return !msg;
  }
}

function segments(path: string): string[] {
  return path.split(/[.[\]]+/).filter((s) => s !== '');
}

export class Form {
  readonly el: HTMLFormElement;
  readonly fields: Field[] = [];
  private readonly summary: HTMLElement;
  private busy = false;

  constructor(
    label: string,
    private readonly onSubmit: () => Promise<void>,
  ) {
    this.summary = h('div', { class: 'form-error', role: 'alert', hidden: true });
    // novalidate: our own messages replace the browser's bubbles, which cannot be styled or read
    // the same way in Electron and Chromium.
    this.el = h('form', { class: 'form', 'aria-label': label, novalidate: true }, this.summary);
    this.el.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.submit();
    });
  }

  add(opts: FieldOptions): Field {
    const f = new Field(opts);
    this.fields.push(f);
    return f;
  }

  field(name: string): Field {
    const f = this.fields.find((x) => x.opts.name === name);
    if (!f) throw new Error(`no field ${name}`);
    return f;
  }

  /** Validates every field; focuses the first invalid one. */
  validate(): boolean {
    let first: Field | undefined;
    for (const f of this.fields) if (!f.validate() && !first) first = f;
    first?.control.focus();
    return !first;
  }

  showError(message: string): void {
    this.summary.replaceChildren(document.createTextNode(message));
    this.summary.hidden = false;
  }

  clearError(): void {
    this.summary.hidden = true;
    this.summary.replaceChildren();
  }

  /**
   * Puts each of the server's field errors next to its input. A path matches the field whose
   * name is its longest leading part ("retry.schedule[2]" → "retry.schedule"); a path with a
   * prefix the form does not have ("endpoints[0].url") matches by its tail. The rest goes in
   * the summary at the top.
   */
  showServerErrors(err: unknown): void {
    if (!(err instanceof ApiFailure) || !err.fields || Object.keys(err.fields).length === 0) {
      this.showError(describeError(err));
      return;
    }
    const unmatched: string[] = [];
    let first: Field | undefined;
    for (const [path, msg] of Object.entries(err.fields)) {
      const f = this.match(path);
      if (f) {
        f.setServerError(msg);
        first ??= f;
      } else unmatched.push(path ? `${path}: ${msg}` : msg);
    }
    if (unmatched.length > 0) this.showError(`${err.message}: ${unmatched.join('; ')}`);
    else this.showError(`${err.message}: see the fields marked below`);
    first?.control.focus();
  }

  private match(path: string): Field | undefined {
    const segs = segments(path);
    for (let start = 0; start < segs.length; start++) {
      for (let end = segs.length; end > start; end--) {
        const key = segs.slice(start, end).join('.');
        const f = this.fields.find((x) => segments(x.opts.name).join('.') === key);
        if (f) return f;
      }
    }
    return undefined;
  }

  async submit(): Promise<void> {
    if (this.busy) return;
    this.clearError();
    if (!this.validate()) {
      this.showError('Fix the fields marked below.');
      return;
    }
    this.busy = true;
    this.el.setAttribute('aria-busy', 'true');
    try {
      await this.onSubmit();
    } catch (err) {
      this.showServerErrors(err);
    } finally {
      this.busy = false;
      this.el.removeAttribute('aria-busy');
    }
  }
}

export function fieldset(legend: string, ...rows: (HTMLElement | null)[]): HTMLFieldSetElement {
  return h('fieldset', {}, h('legend', {}, legend), ...rows);
}
