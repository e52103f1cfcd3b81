import { defineConfig } from 'vitest/config';

/**
 * `npm run test:durability`: the heavy scenarios of README "Guarantees" (SIGKILL under load, broker
 * restarts, receiver trouble, a long outage, storage full, torn writes, hostile input), each
 * against real processes. Kept apart from `npm test` (vitest.config.ts excludes
 * test/durability/**) so the quick suite stays quick; .ci/run runs both.
 */
export default defineConfig({
  test: {
    include: ['test/durability/**/*.test.ts'],
    // Builds dist/: every scenario starts the agent as a user does (bin/edgehook.js).
    globalSetup: ['test/global-setup.ts'],
    // Each scenario bounds its own waits; these only stop a hung test from eating the CI budget.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Two files at a time on a 2-core machine: the heavy files start several processes each
    // (agent, Mosquitto, receivers), and assertions are on outcomes, not on tight timings.
    maxWorkers: 2,
    // it.concurrent cases (each a short CLI process) two at a time, for the same reason.
    maxConcurrency: 2,
    pool: 'forks',
    // A loss or a stall must show up as a failure, never be retried away.
    retry: 0,
  },
});
