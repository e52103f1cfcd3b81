import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  electronImports,
  importsOf,
  isRendererNodeFile,
  listFiles,
  rendererNodeImports,
  type Violation,
} from './import-scan.js';

/**
 * Headless stays free of Electron, and the UI stays a web page (docs/architecture.md "Layers"):
 * - no file outside src/electron/ imports electron (or electron-builder), nor loads src/electron;
 * - nothing the UI in renderer/ loads imports a Node built-in or a Node-only package.
 * The scanner is first tried on small fixtures, so a rule that silently matches nothing fails.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const at = (...p: string[]) => path.join(root, ...p);
const pkg = JSON.parse(fs.readFileSync(at('package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
};

/** Packages that work in a browser page; every other runtime dependency of the agent is Node's. */
const BROWSER_SAFE = new Set(['yaml', 'zod']);
const NODE_ONLY = new Set([
  ...Object.keys(pkg.dependencies ?? {}).filter((d) => !BROWSER_SAFE.has(d)),
  'electron',
  'electron-builder',
  'playwright-core',
  'vite',
  'vitest',
  'typescript',
]);

const show = (vs: Violation[]) =>
  vs.map((v) => `${path.relative(root, v.file)}:${v.line} ${v.specifier} (${v.rule})`);

describe('importsOf', () => {
  it('tells runtime imports from type-only ones, in every form', () => {
    const refs = importsOf(
      'x.ts',
      [
        "import fs from 'node:fs';",
        "import type { App } from 'electron';",
        "import { type A, type B } from 'a';",
        "import { type C, D } from 'c';",
        "import 'side-effect';",
        "export { x } from './x.js';",
        "export type { Y } from './y.js';",
        "const z = await import('z');",
        "const w = require('w');",
        "type T = import('t').T;",
        "// import nope from 'comment';",
        'const s = "import fake from \'string\'";',
      ].join('\n'),
    );
    expect(refs.map((r) => [r.specifier, r.typeOnly])).toEqual([
      ['node:fs', false],
      ['electron', true],
      ['a', true],
      ['c', false],
      ['side-effect', false],
      ['./x.js', false],
      ['./y.js', true],
      ['z', false],
      ['w', false],
    ]);
  });

  it('reads the <script> of markup files', () => {
    expect(
      importsOf(
        'App.vue',
        '<template><p/></template>\n<script setup lang="ts">\nimport fs from \'fs\';\n</script>',
      ).map((r) => r.specifier),
    ).toEqual(['fs']);
  });
});

describe('the rules on fixtures', () => {
  const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-imports-'));
  afterAll(() => fs.rmSync(fixture, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    const file = path.join(fixture, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  write('src/electron/desktop-api.ts', 'export const KEY = 1;\nexport interface Api {}\n');
  write('src/core/helper.ts', "import { createHash } from 'node:crypto';\nexport const h = createHash;\n");
  const core = write(
    'src/core/agent.ts',
    "import type { BrowserWindow } from 'electron';\nimport { KEY } from '../electron/desktop-api.js';\n",
  );
  const ok = write(
    'src/core/fine.ts',
    "import type { Api } from '../electron/desktop-api.js';\nimport { h } from './helper.js';\n",
  );
  const ui = write(
    'renderer/src/main.ts',
    [
      "import type { Api } from '../../src/electron/desktop-api.js';",
      "import type { Buffer } from 'node:buffer';",
      "import { parse } from 'yaml';",
      "import { readFile } from 'fs/promises';",
      "import Database from 'better-sqlite3';",
      "import { h } from '../../src/core/helper.js';",
    ].join('\n'),
  );
  const viteConfig = write('renderer/vite.config.ts', "import path from 'node:path';\n");

  it('flags electron (even a type) and runtime loads of src/electron outside it, and nothing else', () => {
    const electronDir = path.join(fixture, 'src', 'electron');
    expect(electronImports([core, ok], electronDir).map((v) => [v.line, v.specifier])).toEqual([
      [1, 'electron'],
      [2, '../electron/desktop-api.js'],
    ]);
  });

  it('flags Node built-ins and Node-only packages in the UI, following relative imports', () => {
    const found = rendererNodeImports([ui], new Set(['better-sqlite3']));
    expect(found.map((v) => [path.relative(fixture, v.file), v.specifier])).toEqual([
      ['renderer/src/main.ts', 'fs/promises'],
      ['renderer/src/main.ts', 'better-sqlite3'],
      ['src/core/helper.ts', 'node:crypto'],
    ]);
  });

  it('treats build config and tests under renderer/ as Node code', () => {
    expect(isRendererNodeFile(viteConfig)).toBe(true);
    expect(isRendererNodeFile(path.join(fixture, 'renderer/src/api.test.ts'))).toBe(true);
    expect(isRendererNodeFile(path.join(fixture, 'renderer/e2e/login.ts'))).toBe(true);
    expect(isRendererNodeFile(ui)).toBe(false);
  });
});

describe('this repository', () => {
  it('imports Electron only in src/electron/ (the headless agent, CLI, UI, benches and other tests never do)', () => {
    const files = [
      ...listFiles(at('src')).filter((f) => !f.startsWith(at('src', 'electron') + path.sep)),
      ...listFiles(at('bin')),
      ...listFiles(at('bench')),
      ...listFiles(at('examples')),
      ...listFiles(at('renderer'), { markup: true }),
      // The tests of the Electron shell use its types and mock it; every other test is headless.
      ...listFiles(at('test')).filter((f) => !f.startsWith(at('test', 'electron') + path.sep)),
    ];
    expect(files.length).toBeGreaterThan(20);
    expect(files).toContain(at('src', 'agent', 'create-agent.ts'));
    expect(show(electronImports(files, at('src', 'electron')))).toEqual([]);
  });

  it('src/electron/ does import electron (so the scan above is looking at the right thing)', () => {
    const shell = listFiles(at('src', 'electron'));
    expect(
      shell
        .flatMap((f) => importsOf(f, fs.readFileSync(f, 'utf8')))
        .some((r) => r.specifier === 'electron' && !r.typeOnly),
    ).toBe(true);
  });

  const uiFiles = listFiles(at('renderer'), { markup: true }).filter((f) => !isRendererNodeFile(f));
  // renderer/ may not exist yet in a checkout; when it does, every file of the page is scanned.
  it(`the admin UI (renderer/, ${uiFiles.length} files) loads no Node built-in or Node-only package`, () => {
    if (fs.existsSync(at('renderer', 'src'))) expect(uiFiles.length).toBeGreaterThan(0);
    expect(show(rendererNodeImports(uiFiles, NODE_ONLY))).toEqual([]);
  });
});
