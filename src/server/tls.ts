/**
 * TLS material for the node's own server (and the gRPC server API): the `tls` option names PEM
 * files, read at start and again on `reloadTls()` (SIGHUP in the CLI), so a renewed certificate
 * (certbot, cert-manager) is picked up by new connections without a restart.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, type TlsFileOptions } from './options.ts';

/** What `https.createServer` / `setSecureContext` take. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** Largest accepted PEM file: a long chain is a few tens of KiB; this bounds a misconfigured path (a log, /dev/zero). */
export const MAX_PEM_BYTES = 1 << 20;

function readPem(path: string, field: string): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`option "tls.${field}": cannot read ${path}: ${(err as Error).message}`);
  }
  if (b.length > MAX_PEM_BYTES) throw new ConfigError(`option "tls.${field}": ${path} is over ${MAX_PEM_BYTES} bytes, not a PEM file`);
  if (!b.includes('-----BEGIN')) throw new ConfigError(`option "tls.${field}": ${path} is not PEM (no -----BEGIN line)`);
  return b;
}

/**
 * Reads and checks the files: each must be PEM, and the key must match the certificate (a
 * secure context is built once here, so a mismatch is a ConfigError naming the files, not a
 * failure on the first handshake).
 */
export function loadTls(files: TlsFileOptions): TlsMaterial {
  const m: TlsMaterial = { cert: readPem(files.cert, 'cert'), key: readPem(files.key, 'key') };
  if (files.ca) m.ca = readPem(files.ca, 'ca');
  try {
    createSecureContext(m);
  } catch (err) {
    throw new ConfigError(`option "tls": ${files.cert} and ${files.key} do not make a usable certificate and key: ${(err as Error).message}`);
  }
  return m;
}
