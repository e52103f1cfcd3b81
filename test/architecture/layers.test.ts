import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { areaOf, LAYERS, layerImports, listFiles, type Violation } from './import-scan.js';

/**
 * The layers of src/ (docs/architecture.md "Layers"), from the bottom: config and the shared
 * utilities (src/*.ts), outbox, ingest and delivery, admin, agent, then cli, electron and
 * systemd. Every import, type-only ones included, points down; systemd does not import cli.
 * The rule is first tried on a small fixture, so a scan that silently matches nothing fails.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const src = path.join(root, 'src');

const show = (vs: Violation[]) =>
  vs.map((v) => `${path.relative(root, v.file)}:${v.line} imports ${v.specifier} (${v.rule})`);

describe('the layer rule on a fixture', () => {
  const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'edgehook-layers-'));
  afterAll(() => fs.rmSync(fixture, { recursive: true, force: true }));
  const fsrc = path.join(fixture, 'src');
  const write = (rel: string, text: string) => {
    const file = path.join(fsrc, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  const files = [
    write('errors.ts', 'export const E = 1;\n'),
    write('config/schema.ts', "import { E } from '../errors.js';\nexport type Config = { e: typeof E };\n"),
    write('outbox/store.ts', "import type { Config } from '../config/schema.js';\nexport const s = 1;\n"),
    write(
      'delivery/queue.ts',
      "import { s } from '../outbox/store.js';\nimport type { A } from '../agent/status.js';\nexport const q = s;\n",
    ),
    write('ingest/source.ts', "import { q } from '../delivery/queue.js';\nexport const i = q;\n"),
    write('agent/status.ts', 'export interface A {}\n'),
    write('cli/paths.ts', "import { q } from '../delivery/queue.js';\nexport const P = q;\n"),
    write('cli/main.ts', "import { U } from '../systemd/unit.js';\nexport const m = U;\n"),
    write('systemd/unit.ts', "import { P } from '../cli/paths.js';\nexport const U = P;\n"),
    write('plugins/x.ts', 'export const x = 1;\n'),
  ];

  it('names every upward or sideways import, type-only ones too, and nothing else', () => {
    expect(
      layerImports(files, fsrc).map((v) => [path.relative(fsrc, v.file), v.line, v.specifier, v.rule]),
    ).toEqual([
      ['delivery/queue.ts', 2, '../agent/status.js', 'delivery imports agent, a higher layer'],
      ['ingest/source.ts', 1, '../delivery/queue.js', 'ingest imports delivery, its peer'],
      ['systemd/unit.ts', 1, '../cli/paths.js', 'systemd imports cli, its peer'],
      ['plugins/x.ts', 1, '', 'src/plugins is in no layer'],
    ]);
  });
});

describe('this repository', () => {
  const files = listFiles(src);

  it('has every directory of src/ in a layer', () => {
    const areas = new Set(files.map((f) => areaOf(src, f)));
    expect([...areas].filter((a) => !LAYERS.some((l) => l.includes(a)))).toEqual([]);
    // The scan sees the tree: each layer has files.
    for (const layer of LAYERS)
      expect(
        layer.some((a) => areas.has(a)),
        layer.join(', '),
      ).toBe(true);
  });

  it(`imports only downward in src/ (${files.length} files)`, () => {
    expect(files.length).toBeGreaterThan(50);
    expect(show(layerImports(files, src))).toEqual([]);
  });
});
