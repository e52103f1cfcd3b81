import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The admin UI: built to dist/ui, served by the agent's admin server (src/admin/ui-static.ts).
 * Everything is bundled (no CDN), so it works on a gateway with no uplink.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs: index.html works wherever the admin server mounts it.
  base: './',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Never inline assets as data: URLs: the admin server's Content-Security-Policy allows
    // 'self' only, and one small file more costs nothing on localhost.
    assetsInlineLimit: 0,
    // One entry chunk; the polyfill would be dead code in Chromium and Electron.
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
