import { app, BrowserWindow } from 'electron';
import { createAgent } from '../agent/create-agent.js';
const w: BrowserWindow | undefined = undefined;
void app.whenReady().then(() => { void createAgent; void w; app.getPath('userData'); });
app.getPath('nope'); const n: number = app.name;
