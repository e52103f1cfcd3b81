// Loaded with `node --import` by bench/idle-rss.js --detail: on SIGUSR2 the process writes
// process.memoryUsage(), V8's heap spaces and the malloc'd rest to $EDGEHOOK_MEMORY_REPORT
// (MB), after a full collection when node runs with --expose-gc.
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const MB = (b) => Math.round((b / 1024 / 1024) * 10) / 10;
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const mu = process.memoryUsage();
  const heap = getHeapStatistics();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [
      s.space_name,
      { size: MB(s.space_size), used: MB(s.space_used_size) },
    ]),
  );
  writeFileSync(
    process.env.EDGEHOOK_MEMORY_REPORT,
    JSON.stringify({
      rss: MB(mu.rss),
      rssFile: MB(kb('RssFile')),
      rssAnon: MB(kb('RssAnon')),
      heapTotal: MB(mu.heapTotal),
      heapUsed: MB(mu.heapUsed),
      external: MB(mu.external),
      arrayBuffers: MB(mu.arrayBuffers),
      mallocedMemory: MB(heap.malloced_memory),
      code: MB(heap.total_heap_size_executable),
      spaces,
    }),
  );
});
