import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { EdgehookError, ErrorCodes } from '../errors.js';
import { configSchema, resolveConfig, type Config } from './schema.js';

/**
 * Reads edgehook.yaml (docs/architecture.md "Configuration file"): YAML → ${VAR} substitution → one
 * zod validation → defaults resolved → paths made absolute → deep-frozen. Every problem (YAML,
 * environment, schema) is gathered and thrown once, so a user fixes the whole file in one pass
 * rather than one error per restart (the Fastify initial-config-validation habit).
 */

type PathSegment = string | number;

interface Problem {
  path: readonly PathSegment[];
  message: string;
}

export interface ParseConfigOptions {
  /** Names the config in messages: the file path, or e.g. "(defaults)". */
  source: string;
  env?: NodeJS.ProcessEnv;
  /** Relative paths in the file are relative to this (the config file's directory). */
  baseDir?: string;
  /** --data-dir: wins over the file's dataDir; relative to the working directory. */
  dataDirOverride?: string;
}

export function parseConfigText(text: string, opts: ParseConfigOptions): Config {
  const env = opts.env ?? process.env;
  const baseDir = path.resolve(opts.baseDir ?? process.cwd());
  const lineCounter = new LineCounter();
  // uniqueKeys: a key given twice is almost always a merge mistake; YAML 1.2 calls it an error.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });

  if (doc.errors.length > 0) {
    fail(
      opts.source,
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        // yaml's own wording here names its API, which means nothing to someone editing a file.
        const message =
          e.code === 'MULTIPLE_DOCS'
            ? 'a config file holds one YAML document: remove the second "---"'
            : firstLine(e.message);
        return `line ${line}, column ${col}: ${message}`;
      }),
    );
  }

  const root = doc.contents;
  // An empty file, or one holding only comments, means "all defaults".
  const isEmpty = root === null || (isScalar(root) && root.value === null);
  if (!isEmpty && !isMap(root)) {
    const got = isSeq(root) ? 'a list' : isScalar(root) ? describeValue(root.value) : 'something else';
    fail(opts.source, [`(top level): expected a mapping of keys (like "agentId: gateway-01"), got ${got}`]);
  }

  const envProblems: Problem[] = [];
  let data: unknown = {};
  if (!isEmpty) {
    substituteEnv(root, [], env, envProblems);
    try {
      data = dropNullValues(doc.toJS());
    } catch (err) {
      // yaml refuses alias bombs ("billion laughs") in toJS rather than expanding them.
      const where = err instanceof AliasCycle ? renderPath(err.path) : '(top level)';
      fail(opts.source, [`${where}: ${err instanceof Error ? err.message : String(err)}`]);
    }
  }

  const result = configSchema.safeParse(data, { error: humanMessage, reportInput: true });
  const schemaProblems = result.success ? [] : result.error.issues.flatMap(toProblems);
  // A value whose ${VAR} could not be substituted also fails the schema (still "${VAR}");
  // the environment message is the one that tells the user what to fix.
  const problems = [
    ...envProblems,
    ...schemaProblems.filter((p) => !envProblems.some((e) => startsWith(p.path, e.path))),
  ];
  if (!result.success || problems.length > 0) {
    fail(
      opts.source,
      problems.map((p) => `${renderPath(p.path)}: ${p.message}`),
    );
  }

  const config = resolveConfig(result.data);
  const resolved: Config = {
    ...config,
    dataDir:
      opts.dataDirOverride !== undefined
        ? path.resolve(opts.dataDirOverride)
        : path.resolve(baseDir, config.dataDir),
    mqtt: config.mqtt.tls ? { ...config.mqtt, tls: resolveTlsPaths(config.mqtt.tls, baseDir) } : config.mqtt,
    endpoints: config.endpoints.map((ep) => (ep.tls ? { ...ep, tls: resolveTlsPaths(ep.tls, baseDir) } : ep)),
    admin: config.admin.tls
      ? { ...config.admin, tls: resolveTlsPaths(config.admin.tls, baseDir) }
      : config.admin,
  };
  // structuredClone: zod hands out its default objects by reference; freezing those would
  // freeze the schema's own defaults for every later parse.
  return deepFreeze(structuredClone(resolved));
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  dataDirOverride?: string;
}

/** Reads and parses a config file; no file means all defaults, relative to the working directory. */
export function loadConfigFile(file: string | undefined, opts: LoadConfigOptions = {}): Config {
  if (file === undefined)
    return parseConfigText('', { ...opts, source: '(defaults)', baseDir: process.cwd() });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgehookError(
      ErrorCodes.CONFIG_READ,
      `cannot read config file ${file}: ${readFailureReason(err, file)}`,
      { cause: err },
    );
  }
  return parseConfigText(text, { ...opts, source: file, baseDir: path.dirname(path.resolve(file)) });
}

/** Object.freeze, all the way down; the config is handed to every part and must not drift. */
export function deepFreeze<T>(value: T): T {
  const seen = new WeakSet<object>();
  const freeze = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    Object.freeze(v);
    for (const key of Reflect.ownKeys(v)) freeze((v as Record<PropertyKey, unknown>)[key]);
  };
  freeze(value);
  return value;
}

function fail(source: string, details: string[]): never {
  const n = details.length;
  throw new EdgehookError(ErrorCodes.CONFIG_INVALID, `${source}: ${n} problem${n === 1 ? '' : 's'}`, {
    details,
  });
}

function readFailureReason(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `it does not exist (edgehook init --config ${file} writes a starter)`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory, not a file';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

// ---- ${VAR} substitution ----------------------------------------------------------------

/** `$${` escapes a literal `${`; `${NAME}` and `${NAME:-default}` read the environment. */
const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;
const REFERENCE_BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
const WHOLE_REFERENCE = /^\$\{[^}]*\}$/;
const YAML_NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
const YAML_BOOLEAN = /^(?:true|True|TRUE|false|False|FALSE)$/;

/**
 * Substitutes in the parsed YAML nodes rather than in the text, so comments are never touched,
 * a value cannot inject YAML structure, and each problem knows its config path. Aliases need no
 * visit: they resolve to the anchored node, substituted where it is defined.
 */
function substituteEnv(node: unknown, at: PathSegment[], env: NodeJS.ProcessEnv, problems: Problem[]): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      substituteEnv(pair.value, [...at, key], env, problems);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      substituteEnv(item, [...at, i], env, problems);
    });
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const source = node.value;
    let failed = false;
    const text = source.replace(
      REFERENCE,
      (match: string, body: string | undefined, close: string | undefined) => {
        if (match === '$${') return '${';
        const problem = (message: string): string => {
          problems.push({ path: at, message });
          failed = true;
          return match;
        };
        if (!close) return problem(`"${match}" has no closing "}"`);
        const ref = REFERENCE_BODY.exec(body ?? '');
        if (!ref) return problem(`"${match}" is not a valid reference: use \${NAME} or \${NAME:-default}`);
        const [, name = '', fallback] = ref;
        const value = env[name];
        // ":-" as in the shell: the default also covers a variable that is set but empty.
        if (fallback !== undefined && !value) return fallback;
        if (value === undefined) return problem(`environment variable ${name} is not set`);
        return value;
      },
    );
    if (failed) return;
    // `port: ${ADMIN_PORT}` should behave as if the number had been written there, and
    // `token: ${X:-}` like `token:` (not given). Quoted scalars stay strings, as in YAML itself.
    node.value = node.type === 'PLAIN' && WHOLE_REFERENCE.test(source) ? retype(text) : text;
  }
}

function retype(text: string): string | number | boolean | null {
  if (text === '') return null;
  if (YAML_NUMBER.test(text)) return Number(text);
  if (YAML_BOOLEAN.test(text)) return text.toLowerCase() === 'true';
  return text;
}

/**
 * `key:` with no value means "not given, use the default", as an empty file does. Copies, so a
 * self-referencing alias (`a: &x [*x]`) is caught here by path instead of overflowing the stack.
 */
function dropNullValues(value: unknown, at: PathSegment[] = [], open: Set<object> = new Set()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (open.has(value)) throw new AliasCycle(at);
  open.add(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((v: unknown, i) => dropNullValues(v, [...at, i], open));
  } else {
    const obj: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) obj[k] = dropNullValues(v, [...at, k], open);
    out = obj;
  }
  open.delete(value);
  return out;
}

class AliasCycle extends Error {
  constructor(readonly path: PathSegment[]) {
    super('an alias refers to the value that contains it');
  }
}

// ---- schema issues → lines a person can act on ------------------------------------------

/**
 * Per-parse error map: schema-level messages (a regex's "an id is…") still win, zod's generic
 * "Invalid input: expected number, received string" becomes "expected a number, got a string".
 */
function humanMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      // 1.5 for an integer: the type is right, so show the value.
      return `expected ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${iss.expected === 'int' && typeof iss.input === 'number' ? String(iss.input) : describeType(iss.input)}`;
    case 'invalid_value':
      return iss.values.length === 1
        ? `expected ${json(iss.values[0])}, got ${json(iss.input)}`
        : `expected one of ${iss.values.map(json).join(', ')}, got ${json(iss.input)}`;
    case 'too_small':
      return `${bound(iss.origin, 'at least', 'more than', iss.minimum, iss.inclusive)}${gotNumber(iss.origin, iss.input)}`;
    case 'too_big':
      return `${bound(iss.origin, 'at most', 'less than', iss.maximum, iss.inclusive)}${gotNumber(iss.origin, iss.input)}`;
    case 'invalid_format':
      return iss.format === 'regex'
        ? `does not match ${iss.pattern ?? 'the expected pattern'}`
        : `is not a valid ${iss.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    default:
      return undefined;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
};

function describeType(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'boolean') return 'a boolean';
  return `a ${typeof v}`;
}

function describeValue(v: unknown): string {
  return typeof v === 'string' ? `a string (${json(v)})` : `${describeType(v)} (${String(v)})`;
}

function bound(
  origin: string,
  inclusiveWord: string,
  exclusiveWord: string,
  limit: number | bigint,
  inclusive?: boolean,
): string {
  const word = inclusive === false ? exclusiveWord : inclusiveWord;
  const n = Number(limit);
  if (origin === 'string')
    return n === 1 && word === 'at least'
      ? 'must not be empty'
      : `must be ${word} ${n} character${n === 1 ? '' : 's'} long`;
  if (origin === 'array' || origin === 'set') return `must have ${word} ${n} item${n === 1 ? '' : 's'}`;
  return `must be ${word} ${n}`;
}

function gotNumber(origin: string, input: unknown): string {
  return (origin === 'number' || origin === 'int') && typeof input === 'number' ? `, got ${input}` : '';
}

function json(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** One issue can stand for several lines: one per unknown key, or the issues of a union branch. */
function toProblems(issue: z.core.$ZodIssue): Problem[] {
  const at = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({ path: [...at, key], message: 'unknown key' }));
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors;
    // All literals (qos: 0 | 1 | 2): one line listing every allowed value.
    if (branches.every((b) => b.length === 1 && b[0]?.code === 'invalid_value' && b[0].path.length === 0)) {
      const values = branches.flatMap((b) => (b[0]?.code === 'invalid_value' ? b[0].values : []));
      return [
        { path: at, message: `expected one of ${values.map(json).join(', ')}, got ${json(issue.input)}` },
      ];
    }
    // The branch that got past the type check is the one the user meant.
    const wrongType = (b: z.core.$ZodIssue[]): boolean =>
      b.length === 1 && b[0]?.code === 'invalid_type' && b[0].path.length === 0;
    const meant = branches.filter((b) => !wrongType(b));
    if (meant.length === 1 && meant[0])
      return meant[0].flatMap((i) => toProblems({ ...i, path: [...at, ...i.path] }));
    // No branch took the type (secret: 5): "expected a string or a list, got a number".
    if (meant.length === 0) {
      const names = branches.map((b) =>
        b[0]?.code === 'invalid_type' ? (TYPE_NAMES[b[0].expected] ?? b[0].expected) : '?',
      );
      return [
        {
          path: at,
          message: `expected ${[...new Set(names)].join(' or ')}, got ${describeType(issue.input)}`,
        },
      ];
    }
    return [{ path: at, message: 'does not match any of the accepted forms' }];
  }
  return [{ path: at, message: issue.message }];
}

/** ["endpoints", 0, "url"] → "endpoints[0].url"; odd keys quoted: headers["x y"]. */
export function renderPath(p: readonly PathSegment[]): string {
  if (p.length === 0) return '(top level)';
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function startsWith(p: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= p.length && prefix.every((seg, i) => seg === p[i]);
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}

/** TLS files are named relative to the config file, like dataDir, not to wherever the agent runs. */
function resolveTlsPaths<
  T extends { ca?: string | undefined; cert?: string | undefined; key?: string | undefined },
>(tls: T, baseDir: string): T {
  const out = { ...tls };
  for (const k of ['ca', 'cert', 'key'] as const) {
    const f = tls[k];
    if (f !== undefined) out[k] = path.resolve(baseDir, f) as T[typeof k];
  }
  return out;
}
