import type { Identity } from './tokens.js';

/** The most names kept, and the most distinct tokens kept per name. */
const MAX_NAMES = 10_000;
const MAX_PER_NAME = 8;

interface Seen {
  identity: Identity;
  /** When the token that made it expires (ms since the epoch). */
  until: number;
}

/**
 * OAuth identities by name, for the calls made for their requests (the call
 * guard finds a call's identity by its caller's name, and async calls run
 * after their request). One name may hold several tokens at once with
 * different scopes or backends: its calls then get the least of them — role
 * agent if any live token is an agent, only the backends every live token
 * may use — so a token never lends another of the same name what it lacks.
 * A token counts until it expires; once all have, the last one seen stands.
 */
export class RememberedIdentities {
  readonly #byName = new Map<string, Seen[]>();

  remember(identity: Identity, until: number): void {
    const now = Date.now();
    const seen = (this.#byName.get(identity.name) ?? []).filter((s) => s.until > now && !alike(s.identity, identity));
    seen.push({ identity, until });
    if (seen.length > MAX_PER_NAME) seen.shift();
    this.#byName.delete(identity.name);
    this.#byName.set(identity.name, seen);
    if (this.#byName.size > MAX_NAMES) this.#byName.delete(this.#byName.keys().next().value ?? '');
  }

  get(name: string): Identity | undefined {
    const seen = this.#byName.get(name);
    if (seen === undefined || seen.length === 0) return undefined;
    const now = Date.now();
    const live = seen.filter((s) => s.until > now);
    const counted = live.length > 0 ? live : seen.slice(-1);
    const [first, ...rest] = counted.map((s) => s.identity);
    if (first === undefined) return undefined;
    return rest.length === 0 ? first : rest.reduce(least, first);
  }
}

function alike(a: Identity, b: Identity): boolean {
  if (a.role !== b.role) return false;
  if (a.servers === undefined || b.servers === undefined) return a.servers === b.servers;
  return a.servers.size === b.servers.size && [...a.servers].every((s) => b.servers?.has(s));
}

/** The identity with what both may do. */
function least(a: Identity, b: Identity): Identity {
  const servers = a.servers === undefined ? b.servers : b.servers === undefined ? a.servers : new Set([...a.servers].filter((s) => b.servers?.has(s)));
  return Object.freeze({ ...a, role: a.role === 'admin' && b.role === 'admin' ? 'admin' : 'agent', servers });
}
