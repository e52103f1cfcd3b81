#!/usr/bin/env -S node --max-semi-space-size=2 --v8-pool-size=1
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build` or `prepack`).
// The flags on the line above are the agent's memory settings, read from here by whatever starts
// it as `node bin/edgehook.js` (src/cli/launcher-flags.ts; `npm start` repeats them). Young-
// generation semi-spaces of 2 MB instead of V8's 16 MB: about 8 MB less RSS at idle and far less
// under load. One V8 worker thread instead of four: about 4.5 MB less at idle (the workers'
// compile and parse memory stays in their malloc arenas). Neither cost measurable throughput
// on two cores (BENCHMARKS.md, "Memory").
import '../dist/cli/main.js';
