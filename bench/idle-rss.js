// Idle RSS of the agent, started as a user starts it (node with the flags of bin/edgehook.js's
// #! line), beside bare node, with the embedded broker and with an external Mosquitto.
//
//   node bench/idle-rss.js [--root DIR] [--runs 3] [--seconds 5] [--detail]
//
// Each run: start, wait until the admin URL is printed, then `--seconds` with no traffic, then
// read VmRSS from /proc. `--detail` also asks the agent (through bench/memory-report.mjs,
// loaded with --import) for process.memoryUsage() and V8's heap spaces at that moment.
// Figures are the median of the runs; see BENCHMARKS.md "Memory: where the MB go".
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startMosquitto } from './lib/mosquitto.js';
import { spawnTracked, stopAll, stopProcess } from './lib/procs.js';
import { argValue, freePort, readRss, sleep, waitFor } from './lib/util.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => argValue(args, name, dflt);
const root = resolve(opt('root', join(import.meta.dirname, '..')));
const runs = Number(opt('runs', 3));
const seconds = Number(opt('seconds', 5));
const detail = args.includes('--detail');
const MB = (b) => (b / 1024 / 1024).toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { launcherNodeFlags } = await import(pathToFileURL(join(root, 'dist/cli/launcher-flags.js')).href);
const flags = launcherNodeFlags(join(root, 'bin/edgehook.js'));
const tmp = mkdtempSync(join(tmpdir(), 'edgehook-idle-'));

async function bare() {
  const child = spawnTracked(process.execPath, [...flags, '-e', 'setInterval(()=>{},1e3)'], {
    logFile: join(tmp, 'bare.log'),
  });
  await sleep(seconds * 1000);
  const rss = readRss(child.pid).rss;
  await stopProcess(child);
  return { rss };
}

async function agent(mode, brokerUrl, run) {
  const dir = join(tmp, `${mode}-${run}`);
  mkdirSync(dir, { recursive: true });
  const mqtt =
    brokerUrl === 'embedded'
      ? `mqtt: { url: embedded, embedded: { port: ${await freePort()} } }`
      : `mqtt: { url: '${brokerUrl}' }`;
  const yaml = [
    'logLevel: warn',
    mqtt,
    "subscriptions: [ { topic: 'sensors/#', qos: 1 } ]",
    "endpoints: [ { url: 'http://127.0.0.1:9/hooks' } ]",
    'admin: { port: 0 }',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'edgehook.yaml'), yaml);
  const reportFile = join(dir, 'memory.json');
  const hook = pathToFileURL(join(import.meta.dirname, 'memory-report.mjs')).href;
  const child = spawnTracked(
    process.execPath,
    [
      ...flags,
      ...(detail ? ['--import', hook] : []),
      join(root, 'bin/edgehook.js'),
      'run',
      '--config',
      join(dir, 'edgehook.yaml'),
      '--data-dir',
      join(dir, 'data'),
    ],
    {
      cwd: dir,
      logFile: join(dir, 'agent.log'),
      env: { ...process.env, EDGEHOOK_MEMORY_REPORT: reportFile },
    },
  );
  await waitFor('the agent to start', () => /Admin UI: /.test(child.stderrText + child.stdoutText), {
    timeoutMs: 20_000,
  });
  await sleep(seconds * 1000);
  const rss = readRss(child.pid).rss;
  let report;
  if (detail) {
    child.kill('SIGUSR2');
    report = await waitFor(
      'the memory report',
      () => existsSync(reportFile) && readFileSync(reportFile, 'utf8'),
      {
        timeoutMs: 5000,
      },
    );
  }
  await stopProcess(child);
  return { rss, report: report ? JSON.parse(report) : undefined };
}

function summary(name, results) {
  const rss = median(results.map((r) => r.rss));
  console.log(`${name}: ${MB(rss)} MB (runs: ${results.map((r) => MB(r.rss)).join(', ')})`);
  const rep = results.find((r) => r.rss === rss)?.report;
  if (rep) console.log(JSON.stringify(rep, null, 1).replace(/\n\s*/g, ' '));
  return rss;
}

try {
  console.log(
    `node ${process.version}, flags ${flags.join(' ') || '(none)'}, ${seconds} s idle, ${runs} runs, ${root}`,
  );
  const b = [];
  for (let i = 0; i < runs; i++) b.push(await bare());
  const bareRss = summary('bare node', b);
  const e = [];
  for (let i = 0; i < runs; i++) e.push(await agent('embedded', 'embedded', i));
  const eRss = summary('agent, embedded broker', e);
  const broker = await startMosquitto(tmp);
  const x = [];
  for (let i = 0; i < runs; i++) x.push(await agent('external', broker.url, i));
  const xRss = summary('agent, external Mosquitto', x);
  console.log(`above bare node: embedded +${MB(eRss - bareRss)} MB, external +${MB(xRss - bareRss)} MB`);
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
