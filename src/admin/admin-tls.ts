import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { EdgehookError, ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The admin server's HTTPS (README "Admin UI across the LAN"): bound to anything but loopback it
 * serves TLS, with `admin.tls` or a self-signed certificate made on first start and kept in the
 * data directory. The certificate is kept, not remade at each start: people pin its
 * fingerprint (a browser exception, `edgehook status`, a script), and it must stay the same.
 */

export const CERT_FILE = 'admin-cert.pem';
export const KEY_FILE = 'admin-key.pem';
/** Browsers accept long-lived self-signed certificates; 825 days is what Apple's still take. */
const VALID_DAYS = 825;
/** Remade this long before it expires, so a gateway never serves an expired one. */
const RENEW_BEFORE_MS = 14 * 86_400_000;

export interface AdminTls {
  cert: string;
  key: string;
  /** SHA-256 of the certificate (DER), as `openssl x509 -fingerprint -sha256` prints it: "AB:CD:…". */
  fingerprint256: string;
  /** Where it comes from: admin.tls, or the self-signed one in dataDir. */
  source: 'configured' | 'self-signed';
  certFile: string;
  /** True when this start made the certificate (first start, or the old one was about to expire). */
  created: boolean;
  /**
   * Set when the data directory refused the new certificate (a full disk): what is served
   * instead, for the agent to log. The agent still starts: the admin UI is where a full disk is seen.
   */
  warning?: string;
}

/** 127.0.0.0/8, ::1 and localhost: nobody else can reach the server there. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

/** Whether the admin server speaks TLS with this configuration. */
export function adminUsesTls(admin: { host: string; tls?: unknown; insecureHttp: boolean }): boolean {
  if (admin.tls) return true;
  return !isLoopbackHost(admin.host) && !admin.insecureHttp;
}

/**
 * Says at start how the admin server is reached, when there is something to say: what a
 * certificate's trouble left it serving, a certificate made now (with its fingerprint, to pin),
 * or plain HTTP on the network.
 */
export function logAdminTransport(
  admin: { host: string; insecureHttp: boolean },
  tls: AdminTls | undefined,
  logger: Logger,
): void {
  if (tls) {
    const where = { certFile: tls.certFile, fingerprint256: tls.fingerprint256 };
    if (tls.warning) logger.warn(where, tls.warning);
    else if (tls.created) logger.info(where, 'made a self-signed certificate for the admin UI');
  } else if (admin.insecureHttp && !isLoopbackHost(admin.host)) {
    logger.warn(
      { host: admin.host },
      'admin.insecureHttp: the admin UI is plain HTTP on the network; its token crosses it in clear',
    );
  }
}

/** "AB:CD:…" (hex pairs) → "q80…=" (base64): Chromium and Electron name certificates by the latter. */
export function fingerprintBase64(fingerprint256: string): string {
  return Buffer.from(fingerprint256.replaceAll(':', ''), 'hex').toString('base64');
}

/** SHA-256 of the certificate's public key (SPKI, base64): what HTTP key pinning and Chromium use. */
export function spkiSha256(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** The configured certificate, or the one in dataDir (made when missing or about to expire). */
export async function loadAdminTls(
  dataDir: string,
  configured: { cert: string; key: string } | undefined,
  now = Date.now(),
): Promise<AdminTls> {
  if (configured) {
    const cert = readPem(configured.cert, 'admin.tls.cert');
    const key = readPem(configured.key, 'admin.tls.key');
    return {
      cert,
      key,
      fingerprint256: parseCert(cert, configured.cert).fingerprint256,
      source: 'configured',
      certFile: configured.cert,
      created: false,
    };
  }
  const certFile = join(dataDir, CERT_FILE);
  const keyFile = join(dataDir, KEY_FILE);
  let kept: AdminTls | undefined;
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readPem(certFile, 'the admin certificate');
    const x509 = parseCert(cert, certFile);
    const left = Date.parse(x509.validTo) - now;
    const current: AdminTls = {
      cert,
      key: readPem(keyFile, 'the admin key'),
      fingerprint256: x509.fingerprint256,
      source: 'self-signed',
      certFile,
      created: false,
    };
    if (left > RENEW_BEFORE_MS) return current;
    if (left > 0) kept = { ...current, warning: `valid until ${x509.validTo}` };
  }
  const pems = await makeSelfSigned(now);
  const made: AdminTls = {
    ...pems,
    fingerprint256: new X509Certificate(pems.cert).fingerprint256,
    source: 'self-signed',
    certFile,
    created: true,
  };
  try {
    mkdirSync(dataDir, { recursive: true });
    // The key first: a crash between the two leaves a certificate without its key, which the
    // next start replaces, never a certificate with someone else's key.
    writeAtomic(keyFile, made.key, 0o600);
    writeAtomic(certFile, made.cert, 0o644);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT')
      throw new EdgehookError(
        ErrorCodes.ADMIN_TLS,
        `cannot keep the admin certificate in ${dataDir} (${code ?? (cause as Error).message})`,
        { cause },
      );
    // A full disk must not keep the agent (and the UI that shows the full disk) from starting.
    if (kept)
      return {
        ...kept,
        warning: `the disk is full (${code}): the admin certificate, ${kept.warning}, is not renewed yet; it is at the next start with room`,
      };
    return {
      ...made,
      warning: `the disk is full (${code}): the admin certificate made now is not kept; its fingerprint changes at the next start`,
    };
  }
  return made;
}

async function makeSelfSigned(now: number): Promise<{ cert: string; key: string }> {
  // Loaded here only: a loopback-only agent never needs it.
  const { generate } = await import('selfsigned');
  const name = hostname();
  const dns = new Set(['localhost', name, `${name}.local`].map((n) => n.toLowerCase()));
  const ips = new Set(['127.0.0.1', '::1', ...ownAddresses()]);
  const pems = await generate([{ name: 'commonName', value: `edgehook ${name}`.slice(0, 64) }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3_600_000),
    notAfterDate: new Date(now + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...[...dns].map((value) => ({ type: 2 as const, value })),
          ...[...ips].map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** The machine's own addresses (every interface), without IPv6 link-local ones (they need a zone). */
export function ownAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.address.toLowerCase().startsWith('fe80:')) out.push(a.address);
  return out;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new EdgehookError(
      ErrorCodes.ADMIN_TLS,
      `cannot read ${what} ${file} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      { cause },
    );
  }
}

function parseCert(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new EdgehookError(ErrorCodes.ADMIN_TLS, `${file} is not a PEM certificate`, { cause });
  }
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* the write's own error is the one to report */
    }
    throw err;
  }
}
