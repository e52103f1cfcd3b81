import type { AgentStatus } from '../agent/agent-status.js';

/**
 * What the tray shows, derived from agent.status() by pure functions so every rule is
 * table-tested without Electron. The order of importance: an endpoint that is failing or was
 * disabled by its receiver (events pile up and need a human), then MQTT down (nothing comes in),
 * then an endpoint backing off (usually a short uplink blip the agent rides out alone), then
 * delivery paused by the user.
 */

export type TrayState = 'starting' | 'connected' | 'disconnected' | 'backing-off' | 'failing' | 'paused';

export interface EndpointTrouble {
  id: string;
  /** failing: backing off for a while; disabled: the receiver answered 410 Gone (README "Delivery"). */
  reason: 'failing' | 'disabled';
  detail: string | null;
}

export interface TrayView {
  state: TrayState;
  /** One line for the tooltip and the first, disabled menu item (Linux trays show no tooltip). */
  summary: string;
  troubles: EndpointTrouble[];
  /**
   * Deliveries held because the system clock is implausible (a board with no RTC before NTP
   * sync): nothing is wrong with the endpoints, and it ends by itself once the clock is set.
   */
  clockHeld: boolean;
  /** Deliveries that ran out of retries (dead letters), to notice new ones between polls. */
  failedDeliveries: number;
}

export interface DeriveOptions {
  /** The user chose "Pause delivery" in the tray. */
  paused: boolean;
  /** Endpoints with `enabled: false` in the config: their 'disabled' state is intended. */
  disabledByConfig: ReadonlySet<string>;
  /**
   * Backoff starts at 1 s and doubles (README "Delivery"): 5 failures in a row is roughly half a
   * minute of the endpoint not answering, past a blip and worth a notification.
   */
  failAfter?: number;
}

export const DEFAULT_FAIL_AFTER = 5;

export const STATE_LABELS: Record<TrayState, string> = {
  starting: 'Starting…',
  connected: 'Connected',
  disconnected: 'MQTT disconnected',
  'backing-off': 'Endpoint retrying',
  failing: 'Delivery failing',
  paused: 'Delivery paused',
};

export function endpointTroubles(status: AgentStatus, opts: DeriveOptions): EndpointTrouble[] {
  const failAfter = opts.failAfter ?? DEFAULT_FAIL_AFTER;
  const troubles: EndpointTrouble[] = [];
  for (const ep of status.endpoints) {
    if (ep.state === 'disabled' && !opts.disabledByConfig.has(ep.id)) {
      troubles.push({ id: ep.id, reason: 'disabled', detail: ep.lastError });
    } else if (ep.state === 'backing-off' && ep.consecutiveFailures >= failAfter) {
      troubles.push({ id: ep.id, reason: 'failing', detail: ep.lastError });
    }
  }
  return troubles;
}

export function deriveTrayView(status: AgentStatus | undefined, opts: DeriveOptions): TrayView {
  if (!status)
    return {
      state: 'starting',
      summary: `Edgehook: ${STATE_LABELS.starting}`,
      troubles: [],
      clockHeld: false,
      failedDeliveries: 0,
    };
  const troubles = endpointTroubles(status, opts);
  const clockHeld =
    status.agent.clockPlausible === false || status.endpoints.some((ep) => ep.heldByClock === true);
  const retrying = clockHeld || status.endpoints.some((ep) => ep.state === 'backing-off');
  let state: TrayState;
  if (troubles.length > 0) state = 'failing';
  else if (!status.mqtt.connected) state = 'disconnected';
  else if (retrying) state = 'backing-off';
  else if (opts.paused) state = 'paused';
  else state = 'connected';

  const parts = [`Edgehook: ${statusLine({ state, troubles, clockHeld })}`];
  parts.push(`· ${status.outbox.pending} pending`);
  if (status.outbox.failed > 0) parts.push(`· ${status.outbox.failed} failed`);
  return { state, summary: parts.join(' '), troubles, clockHeld, failedDeliveries: status.outbox.failed };
}

/** The state in words, naming the endpoints in trouble: "Delivery failing: cloud". */
export function statusLine(view: Pick<TrayView, 'state' | 'troubles' | 'clockHeld'>): string {
  if (view.troubles.length > 0)
    return `${STATE_LABELS[view.state]}: ${view.troubles.map((t) => t.id).join(', ')}`;
  if (view.state === 'backing-off' && view.clockHeld) return 'Waiting for the system clock';
  return STATE_LABELS[view.state];
}

export interface DesktopNotice {
  title: string;
  body: string;
}

/**
 * Notices for what got worse since the previous poll, each told once: an endpoint newly failing
 * or disabled, and deliveries newly dead-lettered. The first view after start (no previous one)
 * tells nothing: old failures are in the UI, and a notice at every login would be noise.
 */
export function noticesBetween(prev: TrayView | undefined, next: TrayView): DesktopNotice[] {
  if (!prev || prev.state === 'starting') return [];
  const before = new Set(prev.troubles.map((t) => `${t.id}\u0000${t.reason}`));
  const notices: DesktopNotice[] = [];
  for (const t of next.troubles) {
    if (before.has(`${t.id}\u0000${t.reason}`)) continue;
    const title =
      t.reason === 'disabled' ? `Endpoint "${t.id}" was disabled` : `Endpoint "${t.id}" is failing`;
    const fallback =
      t.reason === 'disabled'
        ? 'Its receiver asked to stop deliveries.'
        : 'Events are kept and will be sent when it answers again.';
    notices.push({ title, body: t.detail ?? fallback });
  }
  const newlyFailed = next.failedDeliveries - prev.failedDeliveries;
  if (newlyFailed > 0) {
    notices.push({
      title: `${newlyFailed} ${newlyFailed === 1 ? 'delivery' : 'deliveries'} failed`,
      body: 'They ran out of retries. Open Edgehook to see why and replay them.',
    });
  }
  return notices;
}
