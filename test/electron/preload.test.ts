import fs from 'node:fs';
import vm from 'node:vm';
import ts from 'typescript';
import { describe, expect, it, vi } from 'vitest';
import { channelFor, DESKTOP_API_KEY, DESKTOP_API_METHODS } from '../../src/electron/desktop-api.js';

/**
 * The preload runs in Electron's sandbox, where it is CommonJS and may require 'electron' only.
 * Electron cannot run here, so the test compiles preload.cts with the options of
 * tsconfig.electron.json (what `npm run build:electron` does) and runs the result in a VM
 * context with a require() that allows just that, as the sandbox does.
 */

const SOURCE = new URL('../../src/electron/preload.cts', import.meta.url);

function compile(): string {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    'tsconfig.electron.json',
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error('cannot read tsconfig.electron.json');
  expect(parsed.fileNames.some((f) => f.endsWith('src/electron/preload.cts'))).toBe(true);
  return ts.transpileModule(fs.readFileSync(SOURCE, 'utf8'), {
    compilerOptions: parsed.options,
    fileName: 'src/electron/preload.cts',
  }).outputText;
}

function runInSandbox(code: string) {
  const exposed = new Map<string, unknown>();
  const invoke = vi.fn(async (channel: string, ...args: unknown[]) => ({ channel, args }));
  const required: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) },
    ipcRenderer: { invoke },
  };
  const module = { exports: {} };
  const sandboxRequire = (id: string) => {
    required.push(id);
    if (id === 'electron') return electron;
    throw new Error(`module not found: ${id} (a sandboxed preload can only require electron)`);
  };
  vm.runInNewContext(code, { require: sandboxRequire, module, exports: module.exports });
  return { exposed, invoke, required };
}

describe('preload', () => {
  const code = compile();

  it('compiles to CommonJS that requires nothing but electron', () => {
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    expect([...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1])).toEqual(['electron']);
  });

  it('exposes exactly the contract, under its key, as functions', () => {
    const { exposed, required } = runInSandbox(code);
    expect(required).toEqual(['electron']);
    expect([...exposed.keys()]).toEqual([DESKTOP_API_KEY]);
    const api = exposed.get(DESKTOP_API_KEY) as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual([...DESKTOP_API_METHODS].sort());
    for (const value of Object.values(api)) expect(typeof value).toBe('function');
    expect(Object.isFrozen(api)).toBe(true);
  });

  it('calls each method on the channel the main process handles', async () => {
    const { exposed, invoke } = runInSandbox(code);
    const api = exposed.get(DESKTOP_API_KEY) as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const method of DESKTOP_API_METHODS) {
      invoke.mockClear();
      await api[method]!(true);
      expect(invoke).toHaveBeenCalledTimes(1);
      expect(invoke.mock.calls[0]![0]).toBe(channelFor(method));
    }
  });

  it('sends only a real boolean to setStartAtLogin and passes the answer back', async () => {
    const { exposed, invoke } = runInSandbox(code);
    const api = exposed.get(DESKTOP_API_KEY) as { setStartAtLogin(v: unknown): Promise<unknown> };
    expect(await api.setStartAtLogin('true')).toEqual({ channel: 'edgehook:setStartAtLogin', args: [false] });
    expect(await api.setStartAtLogin(true)).toEqual({ channel: 'edgehook:setStartAtLogin', args: [true] });
    expect(invoke).toHaveBeenCalledTimes(2);
  });

  it('never hands ipcRenderer itself to the page', () => {
    const { exposed } = runInSandbox(code);
    const api = exposed.get(DESKTOP_API_KEY) as Record<string, unknown>;
    expect(Object.keys(api)).not.toContain('invoke');
    expect(fs.readFileSync(SOURCE, 'utf8')).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer/);
  });
});
