import type { DesktopApi } from '../../src/electron/desktop-api.js';

/**
 * The Electron preload's API (src/electron/desktop-api.ts), present only inside the desktop
 * window. In a plain browser it is undefined and the desktop-only actions stay hidden; nothing
 * else in the UI depends on it.
 */
export function desktopApi(): DesktopApi | undefined {
  return (window as Window & { edgehookDesktop?: DesktopApi }).edgehookDesktop;
}
