/**
 * A test title that says why it is skipped when it is: a run's report then names what is
 * missing (a skipIf marker alone shows only "skipped"). Under CI=true nothing here is skipped.
 */
export function skipNote(title: string, skipped: boolean, needs: string): string {
  return skipped ? `${title} [skipped: needs ${needs}; under CI=true it runs and fails without it]` : title;
}
