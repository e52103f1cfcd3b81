import { describe, it, expect, vi } from 'vitest';
const exposed: Record<string, unknown> = {};
vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (k: string, v: unknown) => { exposed[k] = v; } },
  ipcRenderer: { invoke: vi.fn(async () => 'x') },
}));
describe('p', () => { it('loads', async () => { await import('../../src/electron/preload.cts'); expect(Object.keys(exposed)).toEqual(['edgehookDesktop']); }); });
