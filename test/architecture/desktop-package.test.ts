import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The desktop app's wiring in package.json and the tsconfigs (issue 4): Electron stays a
 * development dependency the headless build never sees, `npm run typecheck` covers the main
 * process, and `npm run desktop` / `npm run dist` exist with what electron-builder needs.
 */

const root = new URL('../../', import.meta.url);
const readJson = (file: string) =>
  JSON.parse(fs.readFileSync(new URL(file, root), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as Record<
    string,
    unknown
  >;

interface Pkg {
  main?: string;
  productName?: string;
  homepage?: string;
  author?: string | { name?: string; email?: string };
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Everything package.json must hold for the desktop app; [] when it is ready. */
export function desktopPackageProblems(pkg: Pkg): string[] {
  const problems: string[] = [];
  const scripts = pkg.scripts ?? {};
  if (pkg.main !== 'dist/electron/main.js')
    problems.push(
      '"main" must be "dist/electron/main.js" (the entry `electron .` and electron-builder start)',
    );
  // Electron names userData after productName: without it, dev runs use ~/.config/edgehook and
  // installed ones ~/.config/Edgehook.
  if (pkg.productName !== 'Edgehook') problems.push('"productName" must be "Edgehook"');
  if (!pkg.homepage) problems.push('"homepage" is required by electron-builder for the deb package');
  const email =
    typeof pkg.author === 'string' ? /<[^>]+@[^>]+>/.test(pkg.author) : Boolean(pkg.author?.email);
  if (!email) problems.push('"author" with an email is required by electron-builder for the deb maintainer');
  if (!/tsconfig\.electron\.json/.test(scripts['build:electron'] ?? ''))
    problems.push('"build:electron" must compile tsconfig.electron.json');
  if (!/tsconfig\.electron\.json/.test(scripts.typecheck ?? ''))
    problems.push('"typecheck" must also check tsconfig.electron.json');
  if (!/build:electron/.test(scripts.desktop ?? '') || !/\belectron \./.test(scripts.desktop ?? ''))
    problems.push('"desktop" must build the desktop code and run `electron .`');
  if (!/build:electron/.test(scripts.dist ?? '') || !/electron-builder/.test(scripts.dist ?? ''))
    problems.push('"dist" must build the desktop code and run electron-builder');
  return problems;
}

/** The package.json fields the report asks for, so the check is proven satisfiable. */
const PROPOSED: Pkg = {
  main: 'dist/electron/main.js',
  productName: 'Edgehook',
  homepage: 'https://github.com/edgehook/edgehook',
  author: 'Edgehook contributors <maintainers@edgehook.example>',
  scripts: {
    typecheck: 'tsc -p tsconfig.json --noEmit && tsc -p tsconfig.electron.json --noEmit',
    'build:electron': 'tsc -p tsconfig.electron.json',
    desktop: 'npm run build && npm run build:ui && npm run build:electron && electron .',
    dist: 'npm run build && npm run build:ui && npm run build:electron && node build/generate-icons.mjs && electron-builder --config electron-builder.yml --publish never',
  },
};

describe('headless stays free of Electron', () => {
  const pkg = readJson('package.json') as Pkg;

  it('electron and electron-builder are development dependencies only', () => {
    for (const name of ['electron', 'electron-builder']) {
      expect(pkg.dependencies?.[name], name).toBeUndefined();
      expect(pkg.devDependencies?.[name], name).toBeDefined();
    }
  });

  it('the headless build (tsconfig.build.json) leaves src/electron out', () => {
    expect(readJson('tsconfig.build.json').exclude).toContain('src/electron/**');
  });

  it('tsconfig.electron.json compiles src/electron, preload.cts included, into the dist/ tree of the core', () => {
    const cfg = readJson('tsconfig.electron.json') as {
      include: string[];
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(cfg.include).toEqual(expect.arrayContaining(['src/electron/**/*.ts', 'src/electron/**/*.cts']));
    expect(cfg.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
    expect(fs.readFileSync(new URL('src/electron/main.ts', root), 'utf8')).toContain(
      "new URL('./preload.cjs', import.meta.url)",
    );
    expect(fs.existsSync(new URL('src/electron/preload.cts', root))).toBe(true);
  });
});

describe('package.json wiring for the desktop app', () => {
  it('the check accepts the proposed fields and names every missing one', () => {
    expect(desktopPackageProblems(PROPOSED)).toEqual([]);
    expect(desktopPackageProblems({})).toHaveLength(8);
  });

  it('"main" is only the desktop entry: the npm package (the CLI) exports no module that would resolve to it', () => {
    const pkg = readJson('package.json') as Pkg & { exports?: Record<string, string>; files?: string[] };
    // `files` leaves dist/electron out of the npm package, so `import 'edgehook'` through "main"
    // would fail on a missing file; with "exports" and no "." entry it fails with
    // ERR_PACKAGE_PATH_NOT_EXPORTED, and Electron, which loads the app by path, still reads "main".
    expect(pkg.files).toContain('!dist/electron');
    expect(pkg.exports).toEqual({ './package.json': './package.json' });
  });

  it('package.json has it (see docs/desktop.md; added by the maintainer)', () => {
    expect(desktopPackageProblems(readJson('package.json') as Pkg)).toEqual([]);
  });
});
