import { defineConfig } from 'vitest/config';

/**
 * `npm run test:package`: electron-builder packages the desktop app for linux x64 and arm64
 * around a stand-in Electron (test/packaging/desktop-package.smoke.test.ts). About a minute on
 * two cores, so kept apart from `npm test`; .ci/run runs it.
 */
export default defineConfig({
  test: {
    include: ['test/packaging/**/*.smoke.test.ts'],
    // Builds dist/ (core and UI); the desktop code is compiled by the npm script first.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 200_000,
    hookTimeout: 200_000,
    // One electron-builder at a time: each already keeps both cores busy.
    fileParallelism: false,
    pool: 'forks',
  },
});
