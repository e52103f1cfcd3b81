import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { EdgehookError, ErrorCodes, isEdgehookError } from '../errors.js';
import { isPlainObject } from '../plain-object.js';
import { parseConfigText } from './load.js';
import { mergeList } from './merge-list.js';
import { literal, type PathSegment } from './yaml-literal.js';
import {
  configSchema,
  endpointSchema,
  subscriptionSchema,
  type Config,
  type EndpointConfig,
  type SubscriptionConfig,
} from './schema.js';

/**
 * Writing edits back to edgehook.yaml, atomically and keeping the user's comments
 * (docs/architecture.md "Configuration file"). An edit is made on the parsed YAML Document
 * (setIn/deleteIn on the nodes), so every comment, key order and `${VAR}` reference the edit
 * does not touch stays as the user wrote it. The whole result is validated exactly as at start
 * (parseConfigText) before anything is written; the write is a temp file in the same directory,
 * fsync'd, renamed over the original.
 */

export { literal, type PathSegment };

export interface ConfigProblem {
  /** rendered like the config file's errors: "endpoints[2].url" */
  path: string;
  message: string;
}

/** The edited config does not validate; nothing was written. */
export class ConfigValidationError extends Error {
  readonly code = ErrorCodes.CONFIG_INVALID;
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `the edited configuration is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    );
    this.name = 'ConfigValidationError';
  }
}

export interface ConfigFileOptions {
  /** Where edits are written. */
  file: string;
  /**
   * true: the running config was loaded from `file`. false (the agent runs on built-in
   * defaults or a config handed over in memory): the first edit writes `file` anew from the
   * running config, later ones edit it.
   */
  loadedFromFile: boolean;
  /** The data directory in effect; it wins over the file's dataDir, as --data-dir does. */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

export class ConfigFile {
  readonly file: string;
  private fromFile: boolean;

  constructor(private readonly options: ConfigFileOptions) {
    this.file = path.resolve(options.file);
    this.fromFile = options.loadedFromFile;
  }

  /** The document to edit: the file as it is now, or one made from `running` when there is none yet. */
  load(running: Config): Document {
    if (!this.fromFile) {
      const doc = new Document(fileFormOf(running));
      doc.commentBefore =
        ' edgehook configuration, written by the admin UI because the agent was started without one.\n' +
        ' Edit it freely (comments are kept); see the README, "Configuration reference", for every key.';
      return doc;
    }
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (cause) {
      throw new EdgehookError(
        ErrorCodes.CONFIG_READ,
        `cannot read config file ${this.file}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new ConfigValidationError(
        doc.errors.map((e) => ({
          path: '(top level)',
          message: `the file no longer parses as YAML: ${e.message.split('\n')[0]}`,
        })),
      );
    }
    return doc;
  }

  /** Validates as `edgehook check` would; throws ConfigValidationError listing every problem by path. */
  validate(doc: Document): Config {
    try {
      return parseConfigText(doc.toString(), {
        source: this.file,
        baseDir: path.dirname(this.file),
        dataDirOverride: this.options.dataDir,
        ...(this.options.env ? { env: this.options.env } : {}),
      });
    } catch (err) {
      if (isEdgehookError(err, ErrorCodes.CONFIG_INVALID))
        throw new ConfigValidationError(err.details.map(splitProblem));
      throw err;
    }
  }

  /** Validates, then writes atomically. Returns the config the file now holds. */
  save(doc: Document): Config {
    const config = this.validate(doc);
    writeAtomic(this.file, doc.toString());
    this.fromFile = true;
    return config;
  }
}

/** "endpoints[0].url: not an http:// URL" → { path, message }; the path is what renderPath wrote. */
const PROBLEM_LINE =
  /^((?:[A-Za-z_$][\w$-]*|\.[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])+|\(top level\)|line \d+, column \d+): ([\s\S]*)$/;

function splitProblem(line: string): ConfigProblem {
  const m = PROBLEM_LINE.exec(line);
  return m ? { path: m[1]!, message: m[2]! } : { path: '(top level)', message: line };
}

/**
 * Temp file in the same directory (so rename is atomic), fsync, rename, fsync the directory.
 * Keeps the mode of the file it replaces; a new file is 0600, as it may hold secrets.
 */
export function writeAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let mode = 0o600;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    /* a new file */
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (cause) {
    fs.rmSync(tmp, { force: true });
    throw new EdgehookError(
      ErrorCodes.CONFIG_WRITE,
      `cannot write config file ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
      { cause },
    );
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* some filesystems cannot fsync a directory; the rename is done */
  }
}

// ---- editing helpers ----------------------------------------------------------------------

/**
 * Writes `next` at `at`, touching only what differs from `current` (both in the schema's
 * parsed form, defaults filled). `given` is what the caller actually sent: a changed key it
 * gave is written as given (so "1GiB" stays "1GiB"); a changed key it left out goes back to its
 * default, i.e. is removed from the file. Unchanged keys keep their text, comments and ${VAR}s;
 * a list is updated item by item (mergeList), so the comments of the items an edit leaves alone
 * stay with them.
 */
export function mergeInto(
  doc: Document,
  at: readonly PathSegment[],
  current: unknown,
  next: unknown,
  given: unknown,
): void {
  if (isDeepStrictEqual(current, next)) return;
  if (isPlainObject(next) && isPlainObject(current) && isMap(doc.getIn(at, true))) {
    const g = isPlainObject(given) ? given : {};
    for (const key of new Set([...Object.keys(current), ...Object.keys(next)])) {
      const keyPath = [...at, key];
      if (g[key] === undefined) {
        if (!isDeepStrictEqual(current[key], next[key]) && doc.hasIn(keyPath)) doc.deleteIn(keyPath);
        continue;
      }
      mergeInto(doc, keyPath, current[key], next[key], g[key]);
    }
    return;
  }
  if (
    Array.isArray(next) &&
    Array.isArray(current) &&
    Array.isArray(given) &&
    mergeList(doc, at, current, next, given, mergeInto)
  )
    return;
  if (given === undefined) {
    if (doc.hasIn(at)) doc.deleteIn(at);
  } else {
    // A scalar over a scalar is changed in place (yaml's set): its style and comment stay.
    doc.setIn(at, literal(given));
  }
}

/**
 * Adds an entry to the list at `key`. When the file does not hold the list, the running one
 * (e.g. the default subscription "#") is written out with it, so adding one keeps the others.
 */
export function appendToList(
  doc: Document,
  key: 'endpoints' | 'subscriptions',
  current: readonly unknown[],
  item: unknown,
): void {
  if (isSeq(doc.getIn([key], true))) doc.addIn([key], literal(item));
  else doc.setIn([key], doc.createNode(literal([...current, item])));
}

/** Makes the file hold the list at `key` explicitly (the running one) before an entry is edited or removed. */
export function materializeList(
  doc: Document,
  key: 'endpoints' | 'subscriptions',
  current: readonly unknown[],
): void {
  if (!isSeq(doc.getIn([key], true))) doc.setIn([key], doc.createNode(literal(current)));
}

/** The YAML nodes of a `secret` (one string or a list), so ${VAR} entries can be kept as they are. */
export function secretNodes(doc: Document, at: readonly PathSegment[]): Node[] {
  const node = doc.getIn(at, true);
  if (node === undefined || node === null) return [];
  if (isSeq(node)) return node.items as Node[];
  if (isScalar(node)) return [node];
  return [];
}

/** Sets `secret` from nodes: one → a plain value, several → a list. */
export function setSecretNodes(doc: Document, at: readonly PathSegment[], nodes: readonly Node[]): void {
  if (nodes.length === 0) {
    if (doc.hasIn(at)) doc.deleteIn(at);
    return;
  }
  doc.setIn(at, nodes.length === 1 ? nodes[0] : doc.createNode(nodes));
}

// ---- a running config as a file ------------------------------------------------------------

/** An endpoint in the file's form: `secret` rather than `secrets`, id always written. */
export function endpointFileForm(ep: EndpointConfig): Record<string, unknown> {
  const { secrets, ...rest } = ep;
  return {
    ...rest,
    ...(secrets.length === 0 ? {} : { secret: secrets.length === 1 ? secrets[0] : [...secrets] }),
  };
}

/**
 * The running config as a minimal file: keys equal to their default are left out, so the file
 * reads like one a person wrote. dataDir is "." because the file lives in the data directory.
 */
export function fileFormOf(config: Config): Record<string, unknown> {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const epDefaults = endpointSchema.parse({ url: 'http://x' }) as Record<string, unknown>;
  const subDefaults = subscriptionSchema.parse({ topic: '#' }) as Record<string, unknown>;
  const out: Record<string, unknown> = { agentId: config.agentId, dataDir: '.' };
  if (config.logLevel !== defaults.logLevel) out.logLevel = config.logLevel;
  const { clientId, ...mqttRest } = config.mqtt;
  const mqtt = withoutDefaults(mqttRest, defaults.mqtt) as Record<string, unknown> | undefined;
  const mqttOut = { ...(mqtt ?? {}), ...(clientId !== `edgehook-${config.agentId}` ? { clientId } : {}) };
  if (Object.keys(mqttOut).length > 0) out.mqtt = mqttOut;
  if (!isDeepStrictEqual(config.subscriptions, defaults.subscriptions)) {
    out.subscriptions = config.subscriptions.map((s: SubscriptionConfig) => ({
      topic: s.topic,
      ...(withoutDefaults({ ...s, topic: undefined }, subDefaults) as object),
    }));
  }
  if (config.endpoints.length > 0) {
    out.endpoints = config.endpoints.map((ep) => {
      const { id, url, secret, ...rest } = endpointFileForm(ep);
      return {
        id,
        url,
        ...(secret === undefined ? {} : { secret }),
        ...(withoutDefaults(rest, epDefaults) as object),
      };
    });
  }
  for (const key of ['storage', 'admin'] as const) {
    const v = withoutDefaults(config[key], defaults[key]);
    if (v !== undefined) out[key] = v;
  }
  return literal(out);
}

function withoutDefaults(value: unknown, def: unknown): unknown {
  if (isDeepStrictEqual(value, def)) return undefined;
  if (!isPlainObject(value) || !isPlainObject(def)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const kept = withoutDefaults(v, def[k]);
    if (kept !== undefined) out[k] = kept;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
