// Types for desktop-dev.mjs (plain JavaScript, run by node as is).
export declare const DESKTOP_DEV_DIR: string;
export declare const DESKTOP_MAIN: string;
export declare function desktopDevPackage(pkg: Record<string, unknown>): Record<string, unknown>;
