import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

/**
 * Reads import edges with the TypeScript parser, not a regular expression, so comments and
 * strings do not count, and `import type` (erased at compile time) is told apart from imports
 * that load code at run time: static, re-exports, side-effect imports, import(), require().
 */

export interface ImportRef {
  specifier: string;
  /** Erased when compiled: loads nothing at run time. */
  typeOnly: boolean;
  line: number;
}

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

export const CODE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
const MARKUP_EXTENSIONS = ['.vue', '.svelte', '.html'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage']);

function scriptKind(fileName: string): ts.ScriptKind {
  if (/\.[cm]?tsx$/.test(fileName)) return ts.ScriptKind.TSX;
  if (/\.jsx$/.test(fileName)) return ts.ScriptKind.JSX;
  if (/\.[cm]?js$/.test(fileName)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** The code of a file: .vue/.svelte/.html hold theirs in <script> elements. */
function codeOf(fileName: string, text: string): string {
  if (!MARKUP_EXTENSIONS.includes(path.extname(fileName))) return text;
  return [...text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1]).join('\n');
}

export function importsOf(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(
    fileName,
    codeOf(fileName, text),
    ts.ScriptTarget.Latest,
    true,
    scriptKind(fileName),
  );
  const refs: ImportRef[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean, node: ts.Node) => {
    if (spec && ts.isStringLiteralLike(spec)) {
      refs.push({
        specifier: spec.text,
        typeOnly,
        line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allNamedTypeOnly =
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly);
      // `import 'x'` has no clause and always runs x.
      add(
        node.moduleSpecifier,
        clause !== undefined && (clause.isTypeOnly || (!clause.name && allNamedTypeOnly)),
        node,
      );
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause;
      const allTypeOnly =
        named !== undefined &&
        ts.isNamedExports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node.isTypeOnly || allTypeOnly, node);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly, node);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const dynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const requireCall = ts.isIdentifier(callee) && callee.text === 'require';
      if (dynamicImport || requireCall) add(node.arguments[0], false, node);
    }
    // ImportTypeNode (`import('x').T`) is a type position: erased, so not visited as an import.
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/** Every code file under `dir` (none if it does not exist), skipping build output and deps. */
export function listFiles(dir: string, opts: { markup?: boolean } = {}): string[] {
  if (!fs.existsSync(dir)) return [];
  const exts = opts.markup ? [...CODE_EXTENSIONS, ...MARKUP_EXTENSIONS] : CODE_EXTENSIONS;
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) out.push(...listFiles(full, opts));
    } else if (exts.includes(path.extname(entry.name)) && !entry.name.endsWith('.d.ts')) {
      out.push(full);
    }
  }
  return out.sort();
}

export function isNodeBuiltin(specifier: string): boolean {
  return (
    specifier.startsWith('node:') ||
    builtinModules.includes(specifier) ||
    builtinModules.includes(specifier.split('/')[0]!)
  );
}

/** "pino" of "pino/file", "@scope/pkg" of "@scope/pkg/x"; undefined for relative paths. */
export function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || isNodeBuiltin(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** A relative import to the file it loads: "./x.js" may name x.ts (NodeNext), "./x" x.ts or x/index.ts. */
export function resolveRelative(fromFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(fromFile), specifier);
  const swapped = base
    .replace(/\.js$/, '.ts')
    .replace(/\.jsx$/, '.tsx')
    .replace(/\.mjs$/, '.mts')
    .replace(/\.cjs$/, '.cts');
  const candidates = [
    base,
    swapped,
    ...CODE_EXTENSIONS.map((e) => base + e),
    ...CODE_EXTENSIONS.map((e) => path.join(base, `index${e}`)),
  ];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
}

const ELECTRON_PACKAGES = new Set(['electron', 'electron-builder', 'app-builder-lib', 'electron-updater']);

/** Outside src/electron, nothing imports Electron, not even its types. */
export function electronImports(files: string[], electronDir: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    for (const ref of importsOf(file, fs.readFileSync(file, 'utf8'))) {
      const pkg = packageName(ref.specifier);
      if (pkg && ELECTRON_PACKAGES.has(pkg)) {
        violations.push({
          file,
          line: ref.line,
          specifier: ref.specifier,
          rule: 'imports Electron outside src/electron',
        });
      }
      const target = resolveRelative(file, ref.specifier);
      // The core must not depend on its shell; a type from the IPC contract is fine (the UI uses it).
      if (!ref.typeOnly && target?.startsWith(electronDir + path.sep)) {
        violations.push({ file, line: ref.line, specifier: ref.specifier, rule: 'loads src/electron code' });
      }
    }
  }
  return violations;
}

/** Files under renderer/ that run in Node, not in the page: build config and tests. */
export function isRendererNodeFile(file: string): boolean {
  const name = path.basename(file);
  return (
    /\.config\.[cm]?[jt]s$/.test(name) ||
    /\.(test|spec)\.[cm]?[jt]sx?$/.test(name) ||
    /[\\/](test|tests|e2e|__tests__)[\\/]/.test(file)
  );
}

/**
 * The UI runs in a browser page, so no code it loads may import a Node
 * built-in or a Node-only package. Relative imports are followed (a runtime import of
 * ../../src/x.ts loads x and everything x loads); type-only imports load nothing.
 */
export function rendererNodeImports(
  entryFiles: string[],
  nodeOnlyPackages: ReadonlySet<string>,
): Violation[] {
  const violations: Violation[] = [];
  const seen = new Set<string>();
  const queue = [...entryFiles];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const ref of importsOf(file, fs.readFileSync(file, 'utf8'))) {
      if (ref.typeOnly) continue;
      const pkg = packageName(ref.specifier);
      if (isNodeBuiltin(ref.specifier))
        violations.push({ file, line: ref.line, specifier: ref.specifier, rule: 'Node built-in in the UI' });
      else if (pkg && nodeOnlyPackages.has(pkg))
        violations.push({
          file,
          line: ref.line,
          specifier: ref.specifier,
          rule: 'Node-only package in the UI',
        });
      const target = resolveRelative(file, ref.specifier);
      if (target) queue.push(target);
    }
  }
  return violations;
}

/**
 * The layers of src/, bottom first (docs/architecture.md "Layers"). A file's area is its
 * directory under src/ ("shared" for the files at the top of src/). A file may import from its
 * own area and from any lower layer, never from a higher one; areas on the same layer import
 * each other only where PEER_IMPORTS says so.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['shared', 'config'],
  ['outbox'],
  ['ingest', 'delivery'],
  ['processing'],
  ['admin'],
  ['agent'],
  ['cli', 'electron', 'systemd'],
];
export const PEER_IMPORTS: ReadonlySet<string> = new Set(['config -> shared', 'cli -> systemd']);

export function areaOf(srcDir: string, file: string): string {
  const parts = path.relative(srcDir, file).split(path.sep);
  return parts.length === 1 ? 'shared' : parts[0]!;
}

/** Every import (type-only ones too: a type ties the layers as much as code does) that points up. */
export function layerImports(
  files: string[],
  srcDir: string,
  layers: readonly (readonly string[])[] = LAYERS,
  peers: ReadonlySet<string> = PEER_IMPORTS,
): Violation[] {
  const layerOf = (area: string) => layers.findIndex((l) => l.includes(area));
  const violations: Violation[] = [];
  for (const file of files) {
    const from = areaOf(srcDir, file);
    const fromLayer = layerOf(from);
    if (fromLayer < 0) {
      violations.push({ file, line: 1, specifier: '', rule: `src/${from} is in no layer` });
      continue;
    }
    for (const ref of importsOf(file, fs.readFileSync(file, 'utf8'))) {
      const target = resolveRelative(file, ref.specifier);
      if (!target) continue;
      if (!target.startsWith(srcDir + path.sep)) {
        violations.push({
          file,
          line: ref.line,
          specifier: ref.specifier,
          rule: 'imports from outside src/',
        });
        continue;
      }
      const to = areaOf(srcDir, target);
      if (to === from) continue;
      const toLayer = layerOf(to);
      if (toLayer < fromLayer || (toLayer === fromLayer && peers.has(`${from} -> ${to}`))) continue;
      violations.push({
        file,
        line: ref.line,
        specifier: ref.specifier,
        rule:
          toLayer === fromLayer ? `${from} imports ${to}, its peer` : `${from} imports ${to}, a higher layer`,
      });
    }
  }
  return violations;
}
