import type {
  AgentStatus,
  ApiError,
  CreatedEndpoint,
  DeliveryDetail,
  DeliveryPage,
  DeliveryStatus,
  EndpointInput,
  EndpointView,
  RedeliverResult,
  RejectedEventPage,
  ReplayResult,
  RevealedSecrets,
  RotateResult,
  SaveResult,
  SettingsView,
  SubscriptionInput,
  SubscriptionView,
  TestEventResult,
  TryStepsInput,
  TryStepsResult,
} from '../../src/admin/api-types.js';

/**
 * The admin API (src/admin/api-types.ts is the contract). The page is same-origin with the API
 * and the /login link left an HttpOnly cookie, so fetch() needs no token of its own.
 */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> | undefined,
  ) {
    super(message);
  }
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called when any request answers 401: the cookie is missing, expired or for another token. */
export function onUnauthorized(fn: UnauthorizedListener): void {
  unauthorizedListeners.add(fn);
}

export function notifyUnauthorized(): void {
  for (const fn of unauthorizedListeners) fn();
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  // Fastify refuses a JSON content-type with an empty body, so a bodiless POST sends {}.
  if (body !== undefined || method === 'POST' || method === 'PUT') {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    init.body = JSON.stringify(body ?? {});
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (cause) {
    throw new ApiFailure(
      0,
      'EDGEHOOK_ERR_NETWORK',
      `the agent did not answer (${(cause as Error).message})`,
      undefined,
    );
  }
  if (res.status === 401) notifyUnauthorized();
  const text = res.status === 204 ? '' : await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = (json ?? {}) as Partial<ApiError>;
    throw new ApiFailure(
      res.status,
      err.code ?? `HTTP_${res.status}`,
      err.error ?? (text.slice(0, 200) || `HTTP ${res.status}`),
      err.fields,
    );
  }
  return json as T;
}

const enc = encodeURIComponent;

export interface DeliveryQuery {
  endpoint?: string | undefined;
  status?: DeliveryStatus | undefined;
  type?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  before?: number | undefined;
  limit?: number | undefined;
}

function query(q: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export const api = {
  status: () => request<AgentStatus>('GET', '/api/status'),

  endpoints: () => request<EndpointView[]>('GET', '/api/endpoints'),
  endpoint: (id: string) => request<EndpointView>('GET', `/api/endpoints/${enc(id)}`),
  createEndpoint: (input: EndpointInput) => request<CreatedEndpoint>('POST', '/api/endpoints', input),
  updateEndpoint: (id: string, input: EndpointInput) =>
    request<EndpointView>('PUT', `/api/endpoints/${enc(id)}`, input),
  deleteEndpoint: (id: string) => request<void>('DELETE', `/api/endpoints/${enc(id)}`),
  revealSecrets: (id: string) => request<RevealedSecrets>('POST', `/api/endpoints/${enc(id)}/secrets/reveal`),
  rotateSecret: (id: string, windowHours: number) =>
    request<RotateResult>('POST', `/api/endpoints/${enc(id)}/rotate`, { windowHours }),
  sendTest: (id: string) => request<TestEventResult>('POST', `/api/endpoints/${enc(id)}/test`),
  replay: (id: string, from: number, to: number) =>
    request<ReplayResult>('POST', `/api/endpoints/${enc(id)}/replay`, { from, to }),

  subscriptions: () => request<SubscriptionView[]>('GET', '/api/subscriptions'),
  createSubscription: (input: SubscriptionInput) =>
    request<SubscriptionView>('POST', '/api/subscriptions', input),
  updateSubscription: (index: number, input: SubscriptionInput) =>
    request<SubscriptionView>('PUT', `/api/subscriptions/${index}`, input),
  deleteSubscription: (index: number) => request<void>('DELETE', `/api/subscriptions/${index}`),
  trySteps: (input: TryStepsInput) => request<TryStepsResult>('POST', '/api/subscriptions/try', input),

  settings: () => request<SettingsView>('GET', '/api/settings'),
  saveSettings: (partial: object) => request<SaveResult>('PUT', '/api/settings', partial),

  deliveries: (q: DeliveryQuery) => request<DeliveryPage>('GET', `/api/deliveries${query(q)}`),
  delivery: (endpointId: string, seq: number) =>
    request<DeliveryDetail>('GET', `/api/deliveries/${enc(endpointId)}/${seq}`),
  retryDelivery: (endpointId: string, seq: number) =>
    request<unknown>('POST', `/api/deliveries/${enc(endpointId)}/${seq}/retry`),
  deleteDelivery: (endpointId: string, seq: number) =>
    request<void>('DELETE', `/api/deliveries/${enc(endpointId)}/${seq}`),

  rejectedEvents: (limit: number) =>
    request<RejectedEventPage>('GET', `/api/events${query({ state: 'rejected', limit })}`),
  redeliver: (seq: number) => request<RedeliverResult>('POST', `/api/events/${seq}/redeliver`),
};

/** A short, human message for an action that failed. */
export function describeError(err: unknown): string {
  if (err instanceof ApiFailure) return err.status === 0 ? err.message : `${err.message} (${err.status})`;
  return (err as Error).message ?? String(err);
}
