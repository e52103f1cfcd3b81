// Types for electron-target.mjs (plain JavaScript, run by node and electron-builder as is).
export declare const OS_KEY: Record<string, string>;
export declare const DRIVER_FILE: string;
export declare function driverPath(root: string, os: string, arch: string): string;
export declare function electronTarget(root: string, version?: string): { version: string; abi: number };
