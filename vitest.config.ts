import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/durability/**', 'test/packaging/**/*.smoke.test.ts', 'node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start brokers, agents and receivers on a 2-core machine: files run in
    // parallel, but not so many that timing-sensitive ones starve.
    maxWorkers: 2,
    pool: 'forks',
  },
});
