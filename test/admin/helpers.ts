import { request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/create-agent.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { tempDir } from '../helpers/agent.js';

/** An agent started from a real config file (so admin edits are written back to it). */
export async function startAgentWithFile(
  yaml: string,
  options: Omit<AgentOptions, 'config' | 'configFile'> = {},
): Promise<{ agent: Agent; file: string; dir: string }> {
  const dir = tempDir('edgehook-admin-');
  const file = join(dir, 'edgehook.yaml');
  writeFileSync(file, yaml);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = loadConfigFile(file, { env: {}, dataDirOverride: dataDir });
  const agent = createAgent({ logger: silentLogger(), ...options, config, configFile: file });
  await agent.start();
  return { agent, file, dir };
}

export interface ApiAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** The admin API over real HTTP with the bearer token. */
export function apiClient(agent: Agent) {
  const call = async <T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer<T>> => {
    const res = await fetch(`${agent.adminUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${agent.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* not JSON: /metrics */
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  };
  return {
    get: <T = unknown>(path: string) => call<T>('GET', path),
    post: <T = unknown>(path: string, body?: unknown) => call<T>('POST', path, body),
    put: <T = unknown>(path: string, body?: unknown) => call<T>('PUT', path, body),
    del: <T = unknown>(path: string) => call<T>('DELETE', path),
    call,
  };
}

/**
 * A raw HTTP request with exactly the headers given (fetch would not let a test forge Host or
 * Origin the way a rebinding page or a cross-site form does).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A pino logger whose lines a test can read. */
export function capturingLogger(): { logger: Logger; text: () => string } {
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  return { logger: createLogger({ level: 'trace', destination }), text: () => out };
}
