import { setFlagsFromString } from 'node:v8';

/**
 * After each full garbage collection V8 lets the old generation grow to up to four times what
 * survived before it collects again. Under a flat-out MQTT burst that is 100 MB and more of
 * garbage on a gateway; at 1.2 times the peak RSS of the benchmark fell from 225–268 MB to
 * 148–168 MB, with throughput within the spread between runs (BENCHMARKS.md).
 *
 * Set at run time rather than on the launcher's #! line: the flag is V8's own, not Node's, and a
 * node whose V8 no longer knows it then prints one warning and runs on, instead of refusing to
 * start. For every process that runs an agent: `edgehook run`, `edgehook demo`, the desktop app.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=20');
}
