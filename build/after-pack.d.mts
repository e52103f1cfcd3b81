// Types for after-pack.mjs (plain JavaScript: electron-builder loads it as is).
export declare function asarNodeFiles(asarFile: string): string[];
export declare function packagedNativeProblems(
  resourcesDir: string,
  target: { arch: string; abi: number },
): { problems: string[]; checked: string[] };
export default function afterPack(context: unknown): Promise<void>;
