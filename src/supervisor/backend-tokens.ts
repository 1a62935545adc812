import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';
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

/** [oauth-out] A client the gateway registered for a backend (RFC 7591 or CIMD), kept beside its tokens. */
export interface ClientEntry {
  backend: string;
  url: string;
  client: StoredOAuthClientInformation;
  /** The redirect URI it was registered with (a loopback URL of `stonegate auth login`). */
  redirect_uri: string;
  /** Scopes a backend asked for beyond the configured ones (403 insufficient_scope): the next login asks for them too. */
  wanted_scope?: string;
}

/** [oauth-out] Client registrations are sealed under `client:<backend>` (a backend name never holds `:`). */
const CLIENT_KEY = (backend: string): string => `client:${backend}`;

/**
 * The sealed entries of one data_dir, written through. [oauth-out] The file
 * is read again when another process replaced it (its inode or mtime
 * changed): `stonegate auth login` writes the tokens a running gateway
 * then uses.
 */
export class TokenStore {
  readonly #path: string;
  readonly #key: Buffer;
  #sealed: Record<string, string>;
  #seen = '';

  constructor(dataDir: string, env: NodeJS.ProcessEnv = process.env) {
    mkdirSync(dataDir, { recursive: true });
    this.#key = envOrKeyFile(env, SECRET_KEY_ENV, dataDir, TOKEN_KEY_FILE, 'the backends then get new tokens');
    this.#path = join(dataDir, TOKEN_FILE);
    this.#sealed = {};
    this.#reread();
  }

  /** Reads the file again when another process replaced it since this one last read or wrote it. */
  #reread(): void {
    let stamp: string;
    try {
      const stat = statSync(this.#path);
      stamp = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
    } catch {
      stamp = 'absent';
    }
    if (stamp === this.#seen) return;
    this.#sealed = readEntries(this.#path);
    this.#seen = stamp;
  }

  /** The last entry opened per key, with the sealed text it came from: a request's bearer costs a stat, not an AES-GCM open. */
  #opened = new Map<string, { sealed: string; value: unknown }>();

  #open<T>(key: string): T | undefined {
    this.#reread();
    const sealed = this.#sealed[key];
    if (sealed === undefined) return undefined;
    const cached = this.#opened.get(key);
    if (cached?.sealed === sealed) return cached.value as T | undefined;
    const text = openText(this.#key, PREFIX, sealed);
    let value: T | undefined;
    try {
      value = text === undefined ? undefined : (JSON.parse(text) as T);
    } catch {
      value = undefined;
    }
    this.#opened.set(key, { sealed, value });
    return value;
  }

  /** The entry of a backend for this URL and client, if one opens. */
  get(backend: string, url: string, clientId: string): TokenEntry | undefined {
    const entry = this.#open<TokenEntry>(backend);
    return entry !== undefined && entry.backend === backend && entry.url === url && entry.client_id === clientId ? entry : undefined;
  }

  set(entry: TokenEntry): void {
    this.#put(entry.backend, entry);
  }

  delete(backend: string): void {
    this.#put(backend, undefined);
  }

  /** [oauth-out] The client registered for a backend at this URL, if one opens. */
  getClient(backend: string, url: string): ClientEntry | undefined {
    const entry = this.#open<ClientEntry>(CLIENT_KEY(backend));
    return entry !== undefined && entry.backend === backend && entry.url === url ? entry : undefined;
  }

  setClient(entry: ClientEntry): void {
    this.#put(CLIENT_KEY(entry.backend), entry);
  }

  deleteClient(backend: string): void {
    this.#put(CLIENT_KEY(backend), undefined);
  }

  /** Read, change one key, write: another process's entries written since are kept. */
  #put(key: string, value: unknown): void {
    this.#reread();
    if (value === undefined && this.#sealed[key] === undefined) return;
    const { [key]: _old, ...rest } = this.#sealed;
    this.#sealed = value === undefined ? rest : { ...rest, [key]: sealText(this.#key, PREFIX, JSON.stringify(value)) };
    this.#write();
  }

  /** Written whole to a temporary file and renamed: a crash never leaves half a file. */
  #write(): void {
    const tmp = `${this.#path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, backends: this.#sealed }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#path);
    const stat = statSync(this.#path);
    this.#seen = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
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
