import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, fetch } from 'undici';

/**
 * fetch() that trusts exactly one certificate, named by its SHA-256 fingerprint: the admin
 * server's self-signed one (README "Admin UI across the LAN"). No CA vouches for it, and its
 * names may not include the address used, so the chain and name checks are replaced by this
 * comparison, made before any request (and its token) is sent.
 */
export async function pinnedGet(
  url: string,
  fingerprint256: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
): Promise<{ status: number; body: string }> {
  const connect = buildConnector({ rejectUnauthorized: false });
  const expected = fingerprint256.toUpperCase();
  const dispatcher = new Agent({
    connect: (opts, callback) =>
      connect(opts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('no socket'), null);
        const seen = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
        if (seen?.toUpperCase() !== expected) {
          socket.destroy();
          const mismatch = new Error(
            `the admin server's certificate (SHA-256 ${seen ?? 'none'}) is not the expected one (${expected})`,
          ) as Error & { code: string };
          mismatch.code = 'EDGEHOOK_CERT_MISMATCH';
          return callback(mismatch, null);
        }
        callback(null, socket);
      }),
  });
  try {
    const res = await fetch(url, { ...init, dispatcher });
    // Read now: the dispatcher is closed right after.
    return { status: res.status, body: await res.text() };
  } finally {
    await dispatcher.close();
  }
}
