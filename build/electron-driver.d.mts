// Types for electron-driver.mjs (plain JavaScript, run by node as is).
export declare function buildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function driverProblems(file: string, target: { arch: string; abi: number }): string[];
export declare function main(argv: string[]): number;
