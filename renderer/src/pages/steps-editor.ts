import { button, h } from '../dom.js';
import type { Field, FieldOptions, Form } from '../form.js';
import type { Check } from '../validate.js';

/**
 * The steps of a subscription as a list of small forms, one per step (README, "Edge
 * processing"). Each input is a Field of the enclosing Form named by its path in the
 * subscription ("steps[1].map", "steps[0].deadband.by"), so the server's `fields` errors
 * ("subscriptions[2].steps[1].map") land next to the step they are about. Adding, moving or
 * removing a step renumbers the paths.
 */

export const STEP_KINDS = ['filter', 'map', 'split', 'deadband', 'throttle', 'window'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

const KIND_HINT: Record<StepKind, string> = {
  filter: 'JSONata; a falsy result filters the message out',
  map: 'JSONata; its result is the new data',
  split: 'JSONata giving an array: one event per element, in order',
  deadband: 'report by exception: a value passes when it moved by at least "by" since the last one reported',
  throttle: 'per key, leading and trailing: at most one message per interval, the newest wins',
  window: 'per key, tumbling windows aligned to the clock: count/min/max/avg/first/last/from/to',
};

interface Draft {
  kind: StepKind;
  /** Input values by sub-name ("expression", "by", "intervalMs"…), as typed. */
  values: Record<string, string>;
}

const PATH = /^[^.\s]+(\.[^.\s]+)*$/;
const pathCheck: Check = (v) =>
  v.trim() === '' || PATH.test(v.trim()) ? undefined : 'a dotted path such as "celsius" or "reading.value"';
const expressionCheck: Check = (v) => (v.trim() === '' ? 'an expression is required' : undefined);
const positive =
  (what: string, opts: { integer?: boolean; required?: boolean; max?: number } = {}): Check =>
  (v) => {
    if (v.trim() === '') return opts.required ? `${what} is required` : undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) return `${what} is a number above 0`;
    if (opts.integer && !Number.isInteger(n)) return `${what} is a whole number`;
    if (opts.max !== undefined && n > opts.max) return `${what} is at most ${opts.max}`;
    return undefined;
  };
const byCheck: Check = (v) => {
  const s = v.trim();
  if (s === '') return undefined;
  if (s.endsWith('%')) return /^\d+(\.\d+)?%$/.test(s) ? undefined : 'a percentage such as "5%"';
  return positive('by')(s);
};
const rangeCheck: Check = (v) => {
  if (v.trim() === '') return undefined;
  const r = parseRange(v);
  if (!r) return 'two numbers: min, max';
  return r[1] > r[0] ? undefined : 'max must be above min';
};

function parseRange(v: string): [number, number] | undefined {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length !== 2 || parts.some((p) => p === '')) return undefined;
  const [a, b] = parts.map(Number) as [number, number];
  return Number.isFinite(a) && Number.isFinite(b) ? [a, b] : undefined;
}

/** The inputs of each kind: sub-name, label, check, hint. */
const INPUTS: Record<StepKind, { sub: string; label: string; check: Check; hint?: string }[]> = {
  filter: [{ sub: 'expression', label: 'Expression', check: expressionCheck }],
  map: [{ sub: 'expression', label: 'Expression', check: expressionCheck }],
  split: [{ sub: 'expression', label: 'Expression', check: expressionCheck }],
  deadband: [
    { sub: 'path', label: 'Path', check: pathCheck, hint: 'e.g. celsius; empty: the whole data' },
    { sub: 'by', label: 'By', check: byCheck, hint: 'a number or "N%"; empty: any change' },
    { sub: 'range', label: 'Range', check: rangeCheck, hint: 'min, max: the span "N%" is of' },
    { sub: 'maxSilenceSeconds', label: 'Max silence (s)', check: positive('max silence') },
  ],
  throttle: [
    {
      sub: 'intervalMs',
      label: 'Interval (ms)',
      check: positive('the interval', { integer: true, required: true }),
    },
  ],
  window: [
    {
      sub: 'seconds',
      label: 'Seconds',
      check: positive('seconds', { integer: true, required: true, max: 86_400 }),
    },
    { sub: 'path', label: 'Path', check: pathCheck, hint: 'the number to aggregate; empty: the whole data' },
  ],
};

function isExpression(kind: StepKind): boolean {
  return kind === 'filter' || kind === 'map' || kind === 'split';
}

/** The field's name: its path in the subscription, as the server's errors name it. */
function fieldName(index: number, kind: StepKind, sub: string): string {
  return isExpression(kind) ? `steps[${index}].${kind}` : `steps[${index}].${kind}.${sub}`;
}

function draftOf(step: Record<string, unknown>): Draft {
  const kind = STEP_KINDS.find((k) => step[k] !== undefined) ?? 'filter';
  const raw = step[kind];
  if (isExpression(kind)) return { kind, values: { expression: String(raw ?? '') } };
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>))
    values[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return { kind, values };
}

function stepOf(d: Draft): Record<string, unknown> {
  const v = (k: string) => (d.values[k] ?? '').trim();
  if (isExpression(d.kind)) return { [d.kind]: v('expression') };
  const out: Record<string, unknown> = {};
  for (const { sub } of INPUTS[d.kind]) {
    const s = v(sub);
    if (s === '') continue;
    if (sub === 'path') out[sub] = s;
    else if (sub === 'by') out[sub] = s.endsWith('%') ? s : Number(s);
    else if (sub === 'range') out[sub] = parseRange(s) ?? s;
    else out[sub] = Number(s);
  }
  return { [d.kind]: out };
}

export class StepsEditor {
  readonly el: HTMLElement;
  private readonly list: HTMLOListElement;
  private drafts: Draft[];
  /** The Fields of each step, in order, by sub-name. */
  private fields: Map<string, Field>[] = [];
  private readonly kind: HTMLSelectElement;

  constructor(
    private readonly form: Form,
    initial: readonly Record<string, unknown>[] | undefined,
  ) {
    this.drafts = (initial ?? []).map(draftOf);
    this.list = h('ol', { class: 'steps-list', 'aria-label': 'Steps' });
    this.kind = h(
      'select',
      { 'aria-label': 'Kind of step to add' },
      ...STEP_KINDS.map((k) => h('option', { value: k }, k)),
    );
    this.el = h(
      'fieldset',
      { class: 'steps' },
      h('legend', {}, 'Steps'),
      h(
        'p',
        { class: 'field-hint' },
        'Run in order on every message before it is stored. Nothing is dropped silently: each message counts as reported, filtered, held or rejected.',
      ),
      this.list,
      h(
        'div',
        { class: 'steps-add' },
        this.kind,
        button('Add step', () => {
          this.sync();
          this.drafts.push({ kind: this.kind.value as StepKind, values: {} });
          this.render();
          this.fields.at(-1)?.values().next().value?.control.focus();
        }),
      ),
    );
    this.render();
  }

  /** The steps as the API takes them. */
  value(): Record<string, unknown>[] {
    this.sync();
    return this.drafts.map(stepOf);
  }

  /** Reads what was typed back into the drafts before the list is rebuilt. */
  private sync(): void {
    this.fields.forEach((byName, i) => {
      const d = this.drafts[i];
      if (d) for (const [sub, f] of byName) d.values[sub] = f.value;
    });
  }

  private move(i: number, to: number): void {
    this.sync();
    const [d] = this.drafts.splice(i, 1);
    if (d) this.drafts.splice(to, 0, d);
    this.render();
  }

  private render(): void {
    // The old steps' Fields leave the form, so its validation and error matching see only these.
    const old = new Set(this.fields.flatMap((m) => [...m.values()]));
    const kept = this.form.fields.filter((f) => !old.has(f));
    this.form.fields.splice(0, this.form.fields.length, ...kept);
    this.fields = [];
    const n = this.drafts.length;
    const items = this.drafts.map((d, i) => {
      const byName = new Map<string, Field>();
      const rows = INPUTS[d.kind].map((input) => {
        const opts: FieldOptions = {
          name: fieldName(i, d.kind, input.sub),
          label: isExpression(d.kind)
            ? `${d.kind[0]!.toUpperCase()}${d.kind.slice(1)} expression`
            : input.label,
          kind: isExpression(d.kind) ? 'textarea' : 'text',
          value: d.values[input.sub] ?? '',
          check: input.check,
          required: isExpression(d.kind),
        };
        if (input.hint) opts.hint = input.hint;
        if (isExpression(d.kind)) opts.hint = KIND_HINT[d.kind];
        const f = this.form.add(opts);
        byName.set(input.sub, f);
        return f.row;
      });
      this.fields.push(byName);
      const title = `Step ${i + 1}: ${d.kind}`;
      return h(
        'li',
        { class: 'step' },
        h(
          'fieldset',
          { class: `step step-${d.kind}` },
          h('legend', {}, title),
          isExpression(d.kind) ? null : h('p', { class: 'field-hint' }, KIND_HINT[d.kind]),
          h('div', { class: 'grid-2' }, ...rows),
          h(
            'div',
            { class: 'row-actions' },
            button('Up', () => this.move(i, i - 1), {
              disabled: i === 0,
              'aria-label': `Move step ${i + 1} up`,
            }),
            button('Down', () => this.move(i, i + 1), {
              disabled: i === n - 1,
              'aria-label': `Move step ${i + 1} down`,
            }),
            button(
              'Remove',
              () => {
                this.sync();
                this.drafts.splice(i, 1);
                this.render();
              },
              { 'aria-label': `Remove step ${i + 1}` },
            ),
          ),
        ),
      );
    });
    this.list.replaceChildren(
      ...(items.length > 0
        ? items
        : [h('li', { class: 'muted steps-empty' }, 'No steps: every message becomes an event as it is.')]),
    );
  }
}
