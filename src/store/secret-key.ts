import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * The gateway's secret keys and the one authenticated encryption it does
 * with them (AES-256-GCM, 96-bit random nonce): the `requestState` it mints
 * (mcp/request-state.ts) and the OAuth tokens it keeps for backends
 * (supervisor/backend-tokens.ts). No other crypto is written here.
 */

const NONCE = 12;
const TAG = 16;

/**
 * A 32-byte key kept in `data_dir/<file>`: read if the file exists, else 32
 * random bytes written with mode 0600 (exclusive create: two gateways
 * starting on one data_dir end up with the same key). `lost` says what a
 * new key would lose, for the error of a damaged file.
 */
export function loadKeyFile(dataDir: string, file: string, lost: string): Buffer {
  const path = join(dataDir, file);
  const read = (): Buffer => {
    const key = readFileSync(path);
    if (key.length !== 32) throw new Error(`${path} is not a 32-byte key (${key.length} bytes); delete it and stonegate makes a new one (${lost})`);
    return key;
  };
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return read();
}

/**
 * The key from the environment variable `name` (64 hex digits, or base64 of
 * 32 bytes), else the key file. A value of another length is refused: a
 * typo must not silently become another key.
 */
export function envOrKeyFile(env: NodeJS.ProcessEnv, name: string, dataDir: string, file: string, lost: string): Buffer {
  const value = env[name];
  if (value === undefined || value === '') return loadKeyFile(dataDir, file, lost);
  const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32) throw new Error(`${name} must be 32 bytes: 64 hex digits or base64 (openssl rand -hex 32)`);
  return key;
}

/** `prefix` + base64url(nonce ‖ ciphertext ‖ tag); the prefix is also the additional authenticated data. */
export function sealText(key: Buffer, prefix: string, text: string): string {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(prefix));
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return prefix + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

/** The text `sealText` sealed with this key and prefix; undefined for anything else (forged, tampered, truncated). */
export function openText(key: Buffer, prefix: string, sealed: string): string | undefined {
  if (!sealed.startsWith(prefix)) return undefined;
  const raw = Buffer.from(sealed.slice(prefix.length), 'base64url');
  if (raw.length < NONCE + TAG + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE));
    decipher.setAAD(Buffer.from(prefix));
    decipher.setAuthTag(raw.subarray(raw.length - TAG));
    return Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
