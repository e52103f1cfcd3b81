import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/**
 * Admin security (docs/architecture.md "Secrets"): a bearer token (or the cookie /login sets), a Host check
 * against DNS rebinding, and an Origin check against CSRF on state-changing requests.
 */

export const TOKEN_FILE = 'admin-token';
export const COOKIE_NAME = 'edgehook_session';

/** The configured token, or the one kept in dataDir (generated on first start, mode 0600). */
export function loadOrCreateToken(dataDir: string, configured: string | undefined): string {
  if (configured) return configured;
  const file = join(dataDir, TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return token;
  }
  const token = randomBytes(24).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return token;
}

/** Constant-time comparison: hashing first makes the lengths equal. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
  return m?.[1];
}

export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The host part of a Host header ("example:8787" → "example", "[::1]:80" → "[::1]"). */
export function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const colon = hostHeader.lastIndexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

/**
 * A request may name this server by: an IP address (a rebinding attack needs a DNS name),
 * localhost, the bound host, or a name the operator allowed.
 */
export function hostAllowed(
  hostHeader: string | undefined,
  boundHost: string,
  allowed: readonly string[],
): boolean {
  if (!hostHeader) return false;
  const name = hostName(hostHeader);
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  if (LOOPBACK_NAMES.has(name) || isIP(bare) !== 0) return true;
  if (name === boundHost.toLowerCase()) return true;
  return allowed.some((a) => a.toLowerCase() === name);
}

/** State-changing requests from a page of another origin are refused; no Origin is fine (curl). */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (!origin) return true;
  if (origin === 'null' || !hostHeader) return false;
  try {
    return new URL(origin).host.toLowerCase() === hostHeader.toLowerCase();
  } catch {
    return false;
  }
}
