import { contextBridge, ipcRenderer } from 'electron';
import type { DesktopApi } from './desktop-api.js';
const api: DesktopApi = { info: () => ipcRenderer.invoke('edgehook:info') as Promise<string> };
contextBridge.exposeInMainWorld('edgehookDesktop', api);
