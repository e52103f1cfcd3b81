/** Badge colour of an endpoint's live state, the same on every page. */
export const STATE_TONE = {
  healthy: 'ok',
  'backing-off': 'warn',
  disabled: 'muted',
  paused: 'info',
} as const;
