/**
 * The Electron main process entry, dist/electron/main.js ("main" of the packaged app's
 * package.json, set by electron-builder.yml's extraMetadata, and of build/desktop-dev). Only
 * wiring: the real Electron modules, the core and this process go into DesktopApp, which holds
 * the logic and is tested with fakes. ESM, like the rest of the project (Electron ≥ 28 loads an
 * ESM main); only the preload has to be CommonJS (see preload.cts).
 */
import { fileURLToPath } from 'node:url';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  powerMonitor,
  session,
  shell,
  Tray,
} from 'electron';
import { createAgent } from '../agent/create-agent.js';
import { loadConfigFile } from '../config/load.js';
import { writeStarterConfig } from '../config/starter.js';
import { createLogger } from '../log.js';
import { useSqliteDriver } from '../outbox/sqlite-driver.js';
import { DesktopApp } from './desktop-app.js';
import { statusNotifierHost } from './tray-host.js';
import { limitHeapGrowth } from '../heap-growth.js';

limitHeapGrowth();

const desktop = new DesktopApp({
  electron: {
    app,
    BrowserWindow,
    dialog,
    ipcMain,
    Menu,
    nativeImage,
    Notification,
    powerMonitor,
    session,
    shell,
    Tray,
  },
  core: { createAgent, loadConfigFile, writeStarterConfig, createLogger, useSqliteDriver },
  runtime: {
    platform: process.platform,
    argv: process.argv,
    env: process.env,
    execPath: process.execPath,
    electronVersion: process.versions.electron,
    resourcesPath: process.resourcesPath,
    sourceRoot: fileURLToPath(new URL('../../', import.meta.url)),
    arch: process.arch,
    trayHost: () => statusNotifierHost(),
    preloadPath: fileURLToPath(new URL('./preload.cjs', import.meta.url)),
    onSignal: (signal, handler) => void process.on(signal, handler),
  },
});

desktop.run();
