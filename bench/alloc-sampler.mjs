// Where the agent allocates (not only what stays live): loaded with `node --import`, it samples
// every allocation, including objects the garbage collector has already taken, and on SIGUSR2
// writes the profile to $EDGEHOOK_ALLOC_PROFILE. Summarise it with
// `node bench/analyze-allocations.js FILE`. See BENCHMARKS.md, "Throughput, third pass".
//   EDGEHOOK_ALLOC_PROFILE=/tmp/alloc.json node --import ./bench/alloc-sampler.mjs bin/edgehook.js run …
//   kill -USR2 <pid>   # after the load
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.on('SIGUSR2', () => {
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) process.stderr.write(`alloc-sampler: ${err.message}\n`);
    else writeFileSync(process.env.EDGEHOOK_ALLOC_PROFILE, JSON.stringify(result.profile));
  });
});
