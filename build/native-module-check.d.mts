// Types for native-module-check.mjs (plain JavaScript: electron-builder and node run it as is).
export declare const BUILDER_ARCH: readonly string[];
export interface NativeModuleInfo {
  format: 'elf' | 'macho' | 'pe';
  cpus: string[];
  abi: number | undefined;
  napi: boolean;
}
export declare function inspectNativeModule(buf: Buffer): NativeModuleInfo;
export declare function nativeModuleProblems(
  info: NativeModuleInfo,
  target: { arch: string; abi: number; runtime?: string },
): string[];
export declare function describeNativeModule(info: NativeModuleInfo): string;
