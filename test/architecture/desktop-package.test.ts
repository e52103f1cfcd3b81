import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The desktop app's wiring in package.json and the tsconfigs (docs/desktop.md): Electron stays a
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
function desktopPackageProblems(pkg: Pkg): string[] {
  const problems: string[] = [];
  const scripts = pkg.scripts ?? {};
  // npm packs the "main" file whatever "files" says: the desktop entry would ship in the CLI's
  // package. Electron gets it from build/desktop-dev and electron-builder.yml's extraMetadata.
  if (pkg.main !== undefined)
    problems.push(
      '"main" must be absent (npm always packs it; the desktop entry is not for the npm package)',
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
  if (
    !/build:electron/.test(scripts.desktop ?? '') ||
    !/build\/desktop-dev\.mjs && electron build\/desktop-dev$/.test(scripts.desktop ?? '')
  )
    problems.push('"desktop" must build the desktop code and run `electron build/desktop-dev`');
  if (!/build:electron/.test(scripts.dist ?? '') || !/electron-builder/.test(scripts.dist ?? ''))
    problems.push('"dist" must build the desktop code and run electron-builder');
  return problems;
}

/** The package.json fields the report asks for, so the check is proven satisfiable. */
const PROPOSED: Pkg = {
  productName: 'Edgehook',
  homepage: 'https://github.com/edgehook/edgehook',
  author: 'Edgehook contributors <maintainers@edgehook.example>',
  scripts: {
    typecheck: 'tsc -p tsconfig.json --noEmit && tsc -p tsconfig.electron.json --noEmit',
    'build:electron': 'tsc -p tsconfig.electron.json',
    desktop:
      'npm run build && npm run build:electron && node build/desktop-dev.mjs && electron build/desktop-dev',
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
    expect(desktopPackageProblems({})).toHaveLength(7);
    expect(desktopPackageProblems({ ...PROPOSED, main: 'dist/electron/main.js' })).toEqual([
      '"main" must be absent (npm always packs it; the desktop entry is not for the npm package)',
    ]);
  });

  it('Electron finds the entry: build/desktop-dev for `npm run desktop`, extraMetadata for packages', async () => {
    const { desktopDevPackage, DESKTOP_MAIN } = await import('../../build/desktop-dev.mjs');
    const pkg = readJson('package.json');
    const dev = desktopDevPackage(pkg);
    // Electron names userData after productName and resolves "main" from the app folder.
    expect(dev).toMatchObject({ name: 'edgehook', productName: 'Edgehook', version: pkg.version });
    const devDir = new URL('build/desktop-dev/', root);
    expect(new URL(dev.main as string, devDir).href).toBe(new URL(DESKTOP_MAIN, root).href);
    expect(fs.existsSync(new URL('src/electron/main.ts', root))).toBe(true);
    expect(DESKTOP_MAIN).toBe('dist/electron/main.js');
    expect(fs.readFileSync(new URL('electron-builder.yml', root), 'utf8')).toMatch(
      /^extraMetadata:\n {2}main: dist\/electron\/main\.js$/m,
    );
    expect((pkg as { exports?: unknown }).exports).toEqual({ './package.json': './package.json' });
  });

  it('package.json has it (see docs/desktop.md; added by the maintainer)', () => {
    expect(desktopPackageProblems(readJson('package.json') as Pkg)).toEqual([]);
  });
});
