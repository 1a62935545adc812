import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.js';

/** What a cap counts: MCP sessions (Streamable HTTP, legacy SSE) or long-lived event streams (/coord/events, /log/stream, 2026-07-28 subscriptions/listen). */
export type CapKind = 'session' | 'stream';

/** Who holds a slot: the token (auth on) or the client address (auth off). */
export interface CapClient {
  /** `token <name>` or `address <ip>`: the key slots are counted under. */
  readonly key: string;
  /** Whether the client may use the admin reserve (an admin token). */
  readonly admin: boolean;
}

/** The caps, as [gateway] configures them (max_streams resolved). */
export interface CapLimits {
  /** All sessions / all streams together. */
  readonly sessions: number;
  readonly streams: number;
  /** What one client may hold. */
  readonly sessionsPerClient: number;
  readonly streamsPerClient: number;
  /** Slots of each global cap that only admin clients may take. */
  readonly adminReserve: number;
}

/** Seconds a refused client is told to wait: slots free when a session or stream ends, not on a clock. */
const RETRY_AFTER = 5;

const KEYS: Record<CapKind, { total: 'sessions' | 'streams'; perClient: 'sessionsPerClient' | 'streamsPerClient'; key: string; what: string; close: string }> =
  {
    session: {
      total: 'sessions',
      perClient: 'sessionsPerClient',
      key: 'max_sessions_per_client',
      what: 'MCP sessions',
      close: 'close sessions it no longer uses (DELETE /mcp with the Mcp-Session-Id)',
    },
    stream: {
      total: 'streams',
      perClient: 'streamsPerClient',
      key: 'max_streams_per_client',
      what: 'event streams',
      close: 'close streams it no longer reads',
    },
  };

/**
 * Slots for the long-lived things a client can hold open. One client (a
 * token, or with auth off a client address) holds at most its per-client
 * cap, so it cannot starve the others; all clients together hold at most
 * the global cap, of which `adminReserve` slots only admin tokens may take,
 * so an admin can always get in. A refusal is RATE_LIMITED (429) with
 * Retry-After: the caller is over a limit and may retry once a slot frees.
 */
export class ClientCaps {
  #limits: CapLimits;
  readonly #held: Record<CapKind, Map<string, number>> = { session: new Map(), stream: new Map() };
  readonly #total: Record<CapKind, number> = { session: 0, stream: 0 };

  constructor(limits: CapLimits) {
    this.#limits = limits;
  }
  /** New limits from a reloaded [gateway] (gateway/reload.ts): slots held stay held; the next acquire is counted against these. */
  setLimits(limits: CapLimits): void {
    this.#limits = limits;
  }

  get limits(): CapLimits {
    return this.#limits;
  }

  /** Slots in use: all clients together, or one client's. */
  held(kind: CapKind, key?: string): number {
    return key === undefined ? this.#total[kind] : (this.#held[kind].get(key) ?? 0);
  }

  /** Takes a slot for the client; the returned function (idempotent) frees it. Throws RATE_LIMITED over a cap. */
  acquire(kind: CapKind, client: CapClient): () => void {
    const names = KEYS[kind];
    const total = this.#limits[names.total];
    const perClient = this.#limits[names.perClient];
    const mine = this.held(kind, client.key);
    if (mine >= perClient) {
      throw new GatewayError(
        'RATE_LIMITED',
        `${describe(client)} holds ${mine} ${names.what}, its limit ([gateway] ${names.key} = ${perClient}); ${names.close}, or retry after ${RETRY_AFTER} s`,
        { retryAfter: RETRY_AFTER },
      );
    }
    const room = client.admin ? total : Math.max(0, total - this.#limits.adminReserve);
    if (this.#total[kind] >= room) {
      const which = kind === 'session' ? `max_connections = ${total}` : `max_streams = ${total}`;
      const reserve = client.admin ? '' : ` (${this.#limits.adminReserve} of them kept for admin tokens, [gateway] admin_reserve)`;
      throw new GatewayError(
        'RATE_LIMITED',
        `The gateway holds ${this.#total[kind]} ${names.what} from all clients, its limit ([gateway] ${which})${reserve}; retry after ${RETRY_AFTER} s, or raise the limit`,
        { retryAfter: RETRY_AFTER },
      );
    }
    this.#held[kind].set(client.key, mine + 1);
    this.#total[kind] += 1;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.#total[kind] -= 1;
      const left = (this.#held[kind].get(client.key) ?? 1) - 1;
      if (left <= 0) this.#held[kind].delete(client.key);
      else this.#held[kind].set(client.key, left);
    };
  }
}

function describe(client: CapClient): string {
  return client.key.startsWith('token ') ? `Token '${client.key.slice(6)}'` : `Client ${client.key}`;
}

/** The soft limit on open files (`ulimit -n`): Linux says it in /proc/self/limits; elsewhere, or unreadable, 1024. */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  try {
    const line = read()
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return 1_048_576;
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

/**
 * `[gateway] max_streams = 0`: derived from the fd limit. Each stream holds
 * a socket; half the descriptors are left for everything else (backends'
 * pipes, the database, ordinary requests) and one per MCP session (a
 * session's GET stream or legacy SSE stream) is set aside too, so streams
 * alone can never exhaust the process's descriptors.
 */
export function streamCap(configured: number, maxSessions: number, fdLimit: number = openFileLimit()): number {
  if (configured > 0) return configured;
  return Math.min(10_000, Math.max(16, Math.floor(fdLimit / 2) - maxSessions));
}
