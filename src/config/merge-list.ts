import { isDeepStrictEqual } from 'node:util';
import { type Document, isMap, isSeq, type Node } from 'yaml';
import { isPlainObject } from '../plain-object.js';
import { literal, type PathSegment } from './yaml-literal.js';

/**
 * A list in the config file edited item by item (docs/architecture.md "Configuration file"),
 * so that the YAML comments of the items an edit leaves alone stay with them: a subscription's
 * steps reordered, one of them changed, one removed or added from the admin UI.
 */

export type MergeItem = (
  doc: Document,
  at: readonly PathSegment[],
  current: unknown,
  next: unknown,
  given: unknown,
) => void;

/**
 * Updates the list at `at` to `next`, keeping the YAML node of every item that is still there:
 * an unchanged item keeps its node wherever it moves (with its comments); a changed item is
 * merged in place into the node of the item it replaces (same place and same kind first, else
 * the nearest of the same kind); only new items get new nodes. A comment above the first item
 * is that item's (the parser hangs it on the list). False when the file's list does not line up
 * with `current` (then the caller writes the list as given). `mergeItem` (config-file.ts's
 * mergeInto) merges a changed item into its node.
 */
export function mergeList(
  doc: Document,
  at: readonly PathSegment[],
  current: readonly unknown[],
  next: readonly unknown[],
  given: readonly unknown[],
  mergeItem: MergeItem,
): boolean {
  const seq = doc.getIn(at, true);
  if (!isSeq(seq) || seq.items.length !== current.length || given.length !== next.length) return false;
  const old = seq.items as Node[];
  const from: (number | undefined)[] = next.map(() => undefined);
  const used = new Set<number>();
  const take = (j: number, i: number | undefined) => {
    if (i === undefined) return;
    from[j] = i;
    used.add(i);
  };
  const free = (test: (i: number) => boolean) => current.findIndex((_, i) => !used.has(i) && test(i));
  const found = (i: number) => (i < 0 ? undefined : i);
  next.forEach((v, j) => {
    if (j < current.length && isDeepStrictEqual(current[j], v)) take(j, j);
  });
  next.forEach((v, j) => {
    if (from[j] === undefined) take(j, found(free((i) => isDeepStrictEqual(current[i], v))));
  });
  next.forEach((v, j) => {
    if (from[j] !== undefined) return;
    const same = (i: number) => !used.has(i) && sameKind(current[i], v) && isMap(old[i]) === isPlainObject(v);
    if (j < current.length && same(j)) take(j, j);
    else {
      const nearest = current
        .map((_, i) => i)
        .filter(same)
        .sort((a, b) => Math.abs(a - j) - Math.abs(b - j))[0];
      take(j, nearest);
    }
  });
  if (seq.commentBefore && old[0]) {
    old[0].commentBefore = old[0].commentBefore
      ? `${seq.commentBefore}\n${old[0].commentBefore}`
      : seq.commentBefore;
    seq.commentBefore = undefined;
  }
  seq.items = next.map((_, j) => {
    const i = from[j];
    return i === undefined ? doc.createNode(literal(given[j])) : old[i]!;
  });
  next.forEach((v, j) => {
    const i = from[j];
    if (i !== undefined && !isDeepStrictEqual(current[i], v))
      mergeItem(doc, [...at, j], current[i], v, given[j]);
  });
  return true;
}

/** Two list items of one kind: both scalars, or objects with the same first key (a step's kind). */
function sameKind(a: unknown, b: unknown): boolean {
  if (isPlainObject(a) && isPlainObject(b)) return Object.keys(a)[0] === Object.keys(b)[0];
  return !isPlainObject(a) && !isPlainObject(b) && !Array.isArray(a) && !Array.isArray(b);
}
