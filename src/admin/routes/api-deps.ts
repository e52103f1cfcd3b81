import type { Clock } from '../../clock.js';
import type { Config, SubscriptionConfig } from '../../config/schema.js';
import type { TryStepsResult } from '../api-types.js';
import type { Logger } from '../../log.js';
import type { AdminOutbox } from '../../outbox/outbox-store.js';
import { ConfigValidationError } from '../../config/config-file.js';
import { fieldsFrom, invalid } from '../api-errors.js';
import type { AgentStatus } from '../api-types.js';
import type { ConfigService } from '../config-service.js';

/**
 * What the admin API routes need from the agent, handed over by the composition root
 * (src/agent/create-agent.ts). Routes read and command through these, never through the
 * parts' internals.
 */
export interface AdminApiDeps {
  outbox: AdminOutbox;
  config: ConfigService;
  /** The config running now (restart-only keys as they were at start). */
  running(): Config;
  status(): AgentStatus;
  /** Makes an endpoint's queue read its deliveries from the outbox again (after retry, replay, delete). */
  reloadQueue(endpointId: string): void;
  /** Re-enables an endpoint that a 410 Gone disabled. */
  resumeEndpoint(endpointId: string): void;
  mqttConnected(): boolean;
  /** Edge processing's dry run (POST /api/subscriptions/try); nothing is stored. */
  trySteps?(sub: SubscriptionConfig, topic: string, payload: Buffer): TryStepsResult;
  /** SHA-256 fingerprint of the admin server's certificate; undefined when it is plain HTTP. */
  adminFingerprint?(): string | undefined;
  clock: Clock;
  logger: Logger;
}

/**
 * Runs a config edit; its validation problems come back as fields relative to the part of the
 * config the request edits (`prefix()`, asked once the edit has run, e.g. "endpoints[3]").
 */
export async function withFieldsUnder<T>(prefix: () => string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ConfigValidationError) throw invalid(fieldsFrom(err.problems, prefix()));
    throw err;
  }
}

/** A non-negative integer query parameter, or a field error naming it. */
export function intParam(value: unknown, name: string, fields: Record<string, string>): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    fields[name] = `expected a whole number, got ${JSON.stringify(value)}`;
    return undefined;
  }
  return n;
}
