import { createRequire } from 'node:module';

// Same relative path from src/ (tests) and dist/ (built): both sit one level below the root.
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = pkg.version;
export const USER_AGENT = `edgehook/${VERSION}`;
