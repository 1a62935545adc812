import { createHash } from 'node:crypto';
import { loadKeyFile, openText, sealText } from '../store/secret-key.js';

/**
 * The `requestState` stonegate mints when a 2025-era backend asks a
 * 2026-07-28 caller for input during a call (src/mcp/input-bridge.ts).
 * Authenticated encryption (AES-256-GCM, 96-bit random nonce) with a
 * 256-bit key kept in `data_dir/request-state.key` (made 0600 on first use,
 * kept across restarts): a state the gateway did not mint, or one changed
 * by a single bit, does not open. Its payload is readable only by the
 * gateway and says which pending call it continues, for whom, for which
 * request and until when.
 *
 * Format: `sg1.` + base64url(nonce ‖ ciphertext ‖ tag); the prefix is also
 * the additional authenticated data.
 */

export const KEY_FILE = 'request-state.key';
const PREFIX = 'sg1.';

/** What a state says. Field names are short: the state travels with every retry. */
export interface StatePayload {
  /** The pending call it continues (InputBridge's id). */
  p: string;
  /** Which of that call's rounds: a state of an earlier round has been used. */
  r: number;
  /** The gateway process that minted it (a random id per process). */
  g: string;
  /** The caller: `token:<name>`, or `anon:<random handle>` without auth. */
  c: string;
  /** Digest of the request it belongs to (method, endpoint, tool name, arguments). */
  d: string;
  /** Expiry, ms since the epoch. */
  e: number;
}

/** The key of a data_dir (store/secret-key.ts: 0600, kept across restarts, one per data_dir). */
export function loadKey(dataDir: string): Buffer {
  return loadKeyFile(dataDir, KEY_FILE, 'pending input requests are then lost');
}

/** Seals a payload into an opaque state string. */
export function seal(key: Buffer, payload: StatePayload): string {
  return sealText(key, PREFIX, JSON.stringify(payload));
}

/** Opens a state: its payload, or undefined when it is not one this key sealed (forged, tampered, truncated, not a string). */
export function open(key: Buffer, state: unknown): StatePayload | undefined {
  if (typeof state !== 'string' || state.length > 4096) return undefined;
  const text = openText(key, PREFIX, state);
  if (text === undefined) return undefined;
  try {
    const payload = JSON.parse(text) as StatePayload;
    if (typeof payload.p !== 'string' || typeof payload.r !== 'number' || typeof payload.e !== 'number') return undefined;
    return payload;
  } catch {
    return undefined;
  }
}

/** JSON with object keys sorted, so that equal arguments give equal digests whatever their order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The digest a state binds: the method, the endpoint (`/mcp` or `/mcp/{server}`), the tool name as called and its arguments. */
export function requestDigest(method: string, endpoint: string, name: string, args: Record<string, unknown>): string {
  return createHash('sha256')
    .update(canonical([method, endpoint, name, args]))
    .digest('base64url');
}
