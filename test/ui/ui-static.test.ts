import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { UI_CSP, defaultUiDir, registerUi } from '../../src/admin/ui-static.js';
import { silentLogger } from '../../src/log.js';
import { ROOT, tempDir } from '../helpers/agent.js';
import type { AgentStatus } from '../../src/agent/agent-status.js';
import { CHROMIUM, skipBrowser } from './browser.js';

describe('registerUi: the built UI over HTTP', () => {
  let dir: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = tempDir('edgehook-ui-');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(
      join(dir, 'index.html'),
      '<!doctype html><title>t</title><script type="module" src="./assets/index-abc123.js"></script>',
    );
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dir, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(dir, 'assets', 'logo-x1.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(dir, 'assets', 'blob-x1.bin'), 'x');
    writeFileSync(join(dir, 'secret.txt'), 'must not be served');
    app = Fastify();
    registerUi(app, dir);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / with a strict CSP and no caching of the page itself', async () => {
    const res = await app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toBe(UI_CSP);
    expect(UI_CSP).toContain("default-src 'self'");
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toContain('unsafe-inline');
    expect(UI_CSP).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain('index-abc123.js');
  });

  it('serves hashed assets with their content type and a long, private cache life', async () => {
    const cases: [string, string][] = [
      ['/assets/index-abc123.js', 'text/javascript; charset=utf-8'],
      ['/assets/index-abc123.css', 'text/css; charset=utf-8'],
      ['/assets/logo-x1.svg', 'image/svg+xml'],
      ['/assets/blob-x1.bin', 'application/octet-stream'],
    ];
    for (const [url, type] of cases) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toBe(type);
      expect(res.headers['cache-control'], url).toBe('private, max-age=31536000, immutable');
      expect(res.headers['content-security-policy'], url).toBe(UI_CSP);
    }
    const head = await app.inject({ method: 'HEAD', url: '/assets/index-abc123.js' });
    expect(head.statusCode).toBe(200);
  });

  it('answers 404 for missing files and refuses to leave the assets folder', async () => {
    const urls = [
      '/assets/nope.js',
      '/assets/',
      '/assets/../secret.txt',
      '/assets/..%2Fsecret.txt',
      '/assets/%2e%2e%2fsecret.txt',
      '/assets/..%5Csecret.txt',
      '/assets/sub/../../secret.txt',
      '/assets/%00index-abc123.js',
      '/assets/.hidden',
      '/secret.txt',
    ];
    for (const url of urls) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).not.toContain('must not be served');
    }
  });

  it('says how to build the UI when it is not built', async () => {
    const empty = tempDir('edgehook-ui-empty-');
    const bare = Fastify();
    registerUi(bare, empty);
    const res = await bare.inject('/');
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatch(/npm run build/);
    await bare.close();
    rmSync(empty, { recursive: true, force: true });
  });
});

describe('the admin server serves the UI behind its token', () => {
  it('needs the token for / and /assets/*, like the API', async () => {
    const status = {} as AgentStatus;
    const app = await createAdminServer({
      token: 'a-token-of-enough-length',
      host: '127.0.0.1',
      allowedHosts: [],
      logger: silentLogger(),
      status: () => status,
    });
    // The entry script index.html names (older builds' files may sit beside it: see build-ui.ts).
    const asset = /src="\.\/assets\/([^"]+\.js)"/.exec(
      readFileSync(join(defaultUiDir(), 'index.html'), 'utf8'),
    )![1]!;
    expect((await app.inject({ url: '/', headers: { host: '127.0.0.1' } })).statusCode).toBe(401);
    expect((await app.inject({ url: `/assets/${asset}`, headers: { host: '127.0.0.1' } })).statusCode).toBe(
      401,
    );
    const page = await app.inject({
      url: '/',
      headers: { host: '127.0.0.1', authorization: 'Bearer a-token-of-enough-length' },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`./assets/${asset}`);
    const js = await app.inject({
      url: `/assets/${asset}`,
      headers: { host: '127.0.0.1', cookie: 'edgehook_session=a-token-of-enough-length' },
    });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    await app.close();
  });

  it('finds the built UI in dist/ui (vite builds there; global-setup runs the build)', () => {
    expect(defaultUiDir().replace(/\/$/, '')).toBe(join(ROOT, 'dist', 'ui'));
    const html = readFileSync(join(defaultUiDir(), 'index.html'), 'utf8');
    // No inline script: the CSP would refuse it.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).toMatch(/<script type="module" crossorigin src="\.\/assets\/index-[\w-]+\.js"><\/script>/);
  });
});

describe('renderer/ talks to the agent only over HTTP', () => {
  it('imports nothing from src/ but types, and no Node module', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
      }
    };
    walk(join(ROOT, 'renderer', 'src'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)) {
        const [, isType, spec] = m;
        expect(
          spec!.startsWith('node:') || ['fs', 'path', 'os', 'crypto', 'electron'].includes(spec!),
          `${f}: ${spec}`,
        ).toBe(false);
        if (spec!.includes('/src/')) expect(isType, `${f} imports runtime code from ${spec}`).toBeTruthy();
      }
      expect(text, f).not.toMatch(/\bprocess\.|\bBuffer\.|\brequire\(/);
    }
  });
});

describe('the browser the UI tests drive', () => {
  // The browser tests skip without Chromium on a developer's machine; in CI that would hide
  // them, so there its absence is a failed test that CI's summary line counts.
  it('is installed under CI (and here, unless the browser tests say they are skipped)', ({ skip }) => {
    if (skipBrowser)
      skip(
        `no Chromium at ${CHROMIUM} on this machine: the browser tests are skipped here, never under CI=true`,
      );
    expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`).toBe(true);
  });
});

describe('the admin server loads its schema compilers only for a route with a schema', () => {
  it('validates a body and serializes a reply by schema, as Fastify does by default', async () => {
    const app = await createAdminServer({
      token: 'a-token-of-enough-length',
      host: '127.0.0.1',
      allowedHosts: [],
      logger: silentLogger(),
      status: () => ({}) as AgentStatus,
    });
    app.post(
      '/schema-probe',
      {
        schema: {
          body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
          response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
        },
      },
      async (req) => ({ n: (req.body as { n: number }).n, dropped: 'by the serializer' }),
    );
    const headers = {
      host: '127.0.0.1',
      authorization: 'Bearer a-token-of-enough-length',
      origin: 'http://127.0.0.1',
    };
    const bad = await app.inject({ method: 'POST', url: '/schema-probe', headers, payload: { n: 'x' } });
    expect(bad.statusCode).toBe(400);
    const good = await app.inject({ method: 'POST', url: '/schema-probe', headers, payload: { n: 3 } });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toEqual({ n: 3 });
    await app.close();
  });
});
