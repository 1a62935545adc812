import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredOAuthTokens } from '@modelcontextprotocol/client';
import { envOrKeyFile, openText, sealText } from '../store/secret-key.js';

/*
 * [oauth-out] The OAuth tokens the gateway holds for its backends, kept
 * across restarts in `data_dir/backend-tokens.json` (mode 0600). Each entry
 * is sealed with AES-256-GCM (store/secret-key.ts) under the key of
 * `STONEGATE_SECRET_KEY`, else `data_dir/backend-tokens.key` (0600): the
 * file holds no token text, and an entry moved to another backend, or
 * sealed under another key, does not open (it is then as if absent: the
 * backend gets a new token).
 */

export const TOKEN_FILE = 'backend-tokens.json';
export const TOKEN_KEY_FILE = 'backend-tokens.key';
export const SECRET_KEY_ENV = 'STONEGATE_SECRET_KEY';
const PREFIX = 'sgt1.';

/** One backend's tokens, as sealed. */
export interface TokenEntry {
  /** The backend, its URL and the client: an entry for another of them is not used. */
  backend: string;
  url: string;
  client_id: string;
  tokens: StoredOAuthTokens;
  /** ms since the epoch; undefined when the server gave no expires_in. */
  expires_at: number | undefined;
}

/** The sealed entries of one data_dir, read once and written through. */
export class TokenStore {
  readonly #path: string;
  readonly #key: Buffer;
  #sealed: Record<string, string>;

  constructor(dataDir: string, env: NodeJS.ProcessEnv = process.env) {
    mkdirSync(dataDir, { recursive: true });
    this.#key = envOrKeyFile(env, SECRET_KEY_ENV, dataDir, TOKEN_KEY_FILE, 'the backends then get new tokens');
    this.#path = join(dataDir, TOKEN_FILE);
    this.#sealed = readEntries(this.#path);
  }

  /** The entry of a backend for this URL and client, if one opens. */
  get(backend: string, url: string, clientId: string): TokenEntry | undefined {
    const sealed = this.#sealed[backend];
    if (sealed === undefined) return undefined;
    const text = openText(this.#key, PREFIX, sealed);
    if (text === undefined) return undefined;
    try {
      const entry = JSON.parse(text) as TokenEntry;
      return entry.backend === backend && entry.url === url && entry.client_id === clientId ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  set(entry: TokenEntry): void {
    this.#sealed = { ...this.#sealed, [entry.backend]: sealText(this.#key, PREFIX, JSON.stringify(entry)) };
    this.#write();
  }

  delete(backend: string): void {
    if (this.#sealed[backend] === undefined) return;
    const { [backend]: _gone, ...rest } = this.#sealed;
    this.#sealed = rest;
    this.#write();
  }

  /** Written whole to a temporary file and renamed: a crash never leaves half a file. */
  #write(): void {
    const tmp = `${this.#path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, backends: this.#sealed }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#path);
  }
}

function readEntries(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const parsed = JSON.parse(text) as { backends?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(parsed.backends ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

const stores = new Map<string, TokenStore>();

/** The store of a data_dir (one per data_dir in a process). */
export function tokenStore(dataDir: string): TokenStore {
  let store = stores.get(dataDir);
  if (store === undefined) {
    store = new TokenStore(dataDir);
    stores.set(dataDir, store);
  }
  return store;
}
