import { createHash } from 'node:crypto';
import type { Document } from 'yaml';
import type { Clock } from '../clock.js';
import {
  ConfigValidationError,
  secretNodes,
  setSecretNodes,
  type ConfigFile,
  type ConfigProblem,
} from '../config/config-file.js';
import type { Config } from '../config/schema.js';
import { generateSecret, parseSecret } from '../delivery/sign.js';
import type { Logger } from '../log.js';
import type { AdminOutbox, SecretExpiryRow } from '../outbox/outbox-store.js';

/**
 * Configuration edits from the admin API: one at a time, each made on the YAML document,
 * validated as a whole, written atomically, then applied to the running agent (which answers
 * which keys wait for a restart). Also owns secret rotation: the previous secret keeps signing
 * beside the new one until its expiry, kept in the outbox database (`secret_expiry`, by hash)
 * so a restart does not forget it; past the expiry it is removed from the file.
 */

export interface ConfigServiceDeps {
  file: ConfigFile;
  outbox: AdminOutbox;
  clock: Clock;
  logger: Logger;
  /** The config the agent runs with now. */
  running: () => Config;
  /** Applies a validated config live; returns the dotted keys that need a restart. */
  apply: (next: Config) => Promise<string[]>;
}

export interface EditContext {
  doc: Document;
  /** The config the file holds before this edit. */
  config: Config;
  /** Problems the edit itself found (e.g. a required id); reported with the schema's, nothing written. */
  problems: ConfigProblem[];
}

/**
 * The database side of a config edit that changes both (removing an endpoint deletes what it was
 * still owed; rotating a secret records when the old one expires). `before` runs once the edit
 * has validated, before the file is written; `undo`, when the file could not be written.
 */
export interface DatabaseStep {
  before: () => void;
  undo?: () => void;
}

export interface EditResult<T> {
  value: T;
  config: Config;
  restartRequired: string[];
}

/** How often rotated-out secrets are checked for expiry. Windows are hours long. */
const EXPIRY_CHECK_MS = 30_000;

export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class ConfigService {
  private savedConfig: Config;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ConfigServiceDeps) {
    this.savedConfig = deps.running();
  }

  /** The config as the file holds it (restart-only keys included, even before the restart). */
  get saved(): Config {
    return this.savedConfig;
  }

  get file(): string {
    return this.deps.file.file;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.expireSecrets().catch((err: unknown) =>
        this.deps.logger.error({ err: (err as Error).message }, 'could not remove expired secrets'),
      );
    }, EXPIRY_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Runs `mutate` on the document, validates the result (schema and every signing secret),
   * writes it and applies it. Edits are serialized: each starts from the file the previous one
   * wrote. Throws ConfigValidationError (nothing written) or what `mutate` throws.
   */
  edit<T>(mutate: (ctx: EditContext) => T, db?: DatabaseStep): Promise<EditResult<T>> {
    const run = async (): Promise<EditResult<T>> => {
      const doc = this.deps.file.load(this.savedConfig);
      // The file as it is now (someone may have edited it by hand): edits index into it.
      const before = this.deps.file.validate(doc);
      const problems: ConfigProblem[] = [];
      const value = mutate({ doc, config: before, problems });
      let next: Config;
      try {
        next = this.deps.file.validate(doc);
      } catch (err) {
        if (err instanceof ConfigValidationError)
          throw new ConfigValidationError([...problems, ...err.problems]);
        throw err;
      }
      problems.push(...secretProblems(next));
      if (problems.length > 0) throw new ConfigValidationError(problems);
      // The database first: when it fails nothing is written; when the file then fails, the
      // step is undone (or was harmless to keep), so neither is left half-done.
      db?.before();
      let written: Config;
      try {
        written = this.deps.file.save(doc);
      } catch (err) {
        if (db?.undo) {
          try {
            db.undo();
          } catch (undoErr) {
            this.deps.logger.error(
              { err: (undoErr as Error).message },
              'could not undo the database step of a config edit whose file could not be written',
            );
          }
        }
        throw err;
      }
      this.savedConfig = written;
      const restartRequired = await this.deps.apply(written);
      this.deps.logger.info({ file: this.deps.file.file, restartRequired }, 'configuration saved');
      return { value, config: written, restartRequired };
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Expiry (epoch ms) of each rotated-out secret of an endpoint, by secret. */
  expiries(endpointId: string, secrets: readonly string[]): Map<string, number> {
    const rows = this.deps.outbox.secretExpiries().filter((r) => r.endpointId === endpointId);
    const out = new Map<string, number>();
    for (const s of secrets) {
      const row = rows.find((r) => r.secretHash === secretHash(s));
      if (row) out.set(s, row.expiresAt);
    }
    return out;
  }

  /**
   * A new secret of the same kind signs first; every current one keeps signing until
   * now + windowHours (or its earlier expiry). Returns the new secret, once.
   */
  async rotate(
    endpointId: string,
    windowHours: number,
  ): Promise<{ secret: string; previousExpiresAt: number; publicKey?: string }> {
    const now = this.deps.clock.now();
    let previousExpiresAt = now;
    const kept: { hash: string; expiresAt: number }[] = [];
    const result = await this.edit(
      ({ doc, config }) => {
        const index = config.endpoints.findIndex((e) => e.id === endpointId);
        if (index < 0) throw new NotFound(endpointId);
        const current = config.endpoints[index]!.secrets;
        const kind =
          current[0] !== undefined && parseSecret(current[0]).kind === 'ed25519' ? 'ed25519' : 'hmac';
        const fresh = generateSecret(kind);
        const expiries = this.expiries(endpointId, current);
        const windowEnd = now + Math.round(windowHours * 3_600_000);
        for (const s of current)
          kept.push({ hash: secretHash(s), expiresAt: Math.min(expiries.get(s) ?? windowEnd, windowEnd) });
        if (kept.length > 0) previousExpiresAt = Math.max(...kept.map((k) => k.expiresAt));
        const at = ['endpoints', index, 'secret'];
        // The old entries keep their nodes: a "${CLOUD_SECRET}" stays a reference.
        setSecretNodes(doc, at, [doc.createNode(fresh.secret), ...secretNodes(doc, at)]);
        return fresh;
      },
      this.expiryStep(endpointId, kept),
    );
    this.deps.logger.info(
      { endpoint: endpointId, previousExpiresAt },
      'signing secret rotated; the previous one keeps signing until its expiry',
    );
    return {
      secret: result.value.secret,
      previousExpiresAt,
      ...(result.value.publicKey ? { publicKey: result.value.publicKey } : {}),
    };
  }

  /**
   * Records when each rotated-out secret stops signing, before the file names the new secret.
   * Undone when the file cannot be written: a leftover expiry would end a secret still in use.
   */
  private expiryStep(endpointId: string, kept: readonly { hash: string; expiresAt: number }[]): DatabaseStep {
    const outbox = this.deps.outbox;
    let previous: SecretExpiryRow[] = [];
    return {
      before: () => {
        previous = outbox.secretExpiries().filter((r) => r.endpointId === endpointId);
        outbox.setSecretExpiries(
          kept.map((k) => ({ endpointId, secretHash: k.hash, expiresAt: k.expiresAt, untilSeq: 0 })),
          { untilLatest: true },
        );
      },
      undo: () => {
        for (const k of kept) outbox.deleteSecretExpiry(endpointId, k.hash);
        outbox.setSecretExpiries(previous);
      },
    };
  }

  /** Removes rotated-out secrets past their expiry from the file (and so from signing). Returns how many. */
  async expireSecrets(): Promise<number> {
    const now = this.deps.clock.now();
    const rows = this.deps.outbox.secretExpiries();
    if (rows.length === 0) return 0;
    const cfg = this.savedConfig;
    const due: { endpointId: string; hash: string }[] = [];
    for (const r of rows) {
      const ep = cfg.endpoints.find((e) => e.id === r.endpointId);
      const live = ep?.secrets.some((s) => secretHash(s) === r.secretHash) ?? false;
      // Removed by hand (or with its endpoint): nothing left to expire.
      if (!live) this.deps.outbox.deleteSecretExpiry(r.endpointId, r.secretHash);
      // Past its window, and every event received before the rotation delivered (README "Admin API").
      else if (r.expiresAt <= now && !this.deps.outbox.hasPendingUpTo(r.endpointId, r.untilSeq))
        due.push({ endpointId: r.endpointId, hash: r.secretHash });
    }
    if (due.length === 0) return 0;
    let removed = 0;
    await this.edit(({ doc, config }) => {
      removed = 0;
      config.endpoints.forEach((ep, index) => {
        const gone = new Set(due.filter((d) => d.endpointId === ep.id).map((d) => d.hash));
        if (gone.size === 0) return;
        const at = ['endpoints', index, 'secret'];
        const nodes = secretNodes(doc, at);
        // Never the last secret: an endpoint does not become unsigned by expiry.
        const keep = nodes.filter((_, i) => !gone.has(secretHash(ep.secrets[i] ?? '')));
        if (keep.length === 0 || keep.length === nodes.length) return;
        removed += nodes.length - keep.length;
        setSecretNodes(doc, at, keep);
      });
    });
    for (const d of due) this.deps.outbox.deleteSecretExpiry(d.endpointId, d.hash);
    if (removed > 0)
      this.deps.logger.info({ removed }, 'rotated-out signing secrets expired; they no longer sign');
    return removed;
  }
}

/** Thrown by an edit that names an endpoint or subscription that is not there. */
export class NotFound extends Error {
  constructor(readonly what: string) {
    super(`not found: ${what}`);
    this.name = 'NotFound';
  }
}

/** The schema checks a secret's shape; the signer needs it to decode (canonical base64, key sizes). */
function secretProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.endpoints.forEach((ep, i) => {
    ep.secrets.forEach((s, j) => {
      try {
        parseSecret(s);
      } catch (err) {
        problems.push({
          path: `endpoints[${i}].secret${ep.secrets.length > 1 ? `[${j}]` : ''}`,
          message: (err as Error).message,
        });
      }
    });
  });
  return problems;
}
