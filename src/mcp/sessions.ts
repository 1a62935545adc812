import { createHash, randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/server';
import type { Logger } from '../log.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import { prefixUri } from './resource-proxy.js';
import { sees, type View } from './view.js';

/**
 * The live MCP sessions of every front door (Streamable HTTP, legacy SSE,
 * stdio), so that catalog changes and backend notifications reach the
 * sessions that can see the backend, and resource subscriptions are
 * shared per backend URI.
 */
export class Sessions {
  readonly #sessions = new Map<Server, View>();
  readonly #subscriptions = new Map<string, Set<Server>>();
  readonly #log: Logger;
  /** Each session's identity, as its view carries it (mutable here only). */
  readonly #refs = new Map<Server, { id: string; ended: boolean }>();
  readonly #ended: ((session: string) => void)[] = [];
  /** The identity of each token's 2026-07-28 requests (no MCP session), by token name. */
  readonly #principals = new Map<string, { ref: { id: string; ended: boolean }; lastSeen: number; active: number }>();
  readonly #changed: ((backend: string, what: 'tools' | 'resources' | 'prompts') => void)[] = [];
  /** Backend URIs that 2026-07-28 subscriptions/listen streams watch, with how many streams watch each. */
  readonly #listening = new Map<string, number>();
  readonly #updated: ((backend: string, uri: string) => void)[] = [];

  constructor(logger: Logger) {
    this.#log = logger;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Registers a session; its view gets the session's identity (View.session). */
  add(server: Server, view: View): void {
    const ref = { id: randomUUID(), ended: false };
    view.session = ref;
    this.#refs.set(server, ref);
    this.#sessions.set(server, view);
  }

  /** Forgets a session (closed, deleted, expired); listeners of onEnded hear its id. */
  remove(server: Server): void {
    const ref = this.#refs.get(server);
    this.#sessions.delete(server);
    this.#refs.delete(server);
    if (ref !== undefined) this.#end(ref);
    for (const [key, set] of this.#subscriptions) {
      set.delete(server);
      if (set.size === 0) this.#subscriptions.delete(key);
    }
  }

  /**
   * The session identity of a token's 2026-07-28 requests, which carry no
   * MCP session: one per token name, so a backend with affinity = "session"
   * gives each token a process of its own and two tokens never share one.
   * Held while a request runs (`leave` once its answer is out); a principal
   * with no request for session_idle_timeout ends (endIdlePrincipals) like
   * an expired session, and its connections close.
   */
  enterPrincipal(name: string): { ref: SessionRef; leave: () => void } {
    let principal = this.#principals.get(name);
    if (principal === undefined) {
      const id = `principal:${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
      principal = { ref: { id, ended: false }, lastSeen: Date.now(), active: 0 };
      this.#principals.set(name, principal);
    }
    const held = principal;
    held.active += 1;
    held.lastSeen = Date.now();
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      held.active -= 1;
      held.lastSeen = Date.now();
    };
    return { ref: held.ref, leave };
  }

  /** Ends the principals without a request for more than `idleMs`; listeners of onEnded hear their ids. */
  endIdlePrincipals(idleMs: number, now = Date.now()): void {
    for (const [name, principal] of this.#principals) {
      if (principal.active > 0 || now - principal.lastSeen <= idleMs) continue;
      this.#principals.delete(name);
      this.#end(principal.ref);
    }
  }

  /** Calls `listener` with the id of each session that ends. */
  onEnded(listener: (session: string) => void): void {
    this.#ended.push(listener);
  }

  /** Hears every backend list_changed before sessions are told (the catalog restamps prompts and resources). */
  onListChanged(listener: (backend: string, what: 'tools' | 'resources' | 'prompts') => void): void {
    this.#changed.push(listener);
  }

  subscribe(session: Server, backend: string, uri: string): void {
    const key = `${backend}\u0000${uri}`;
    const set = this.#subscriptions.get(key) ?? new Set<Server>();
    set.add(session);
    this.#subscriptions.set(key, set);
  }

  unsubscribe(session: Server, backend: string, uri: string): void {
    const key = `${backend}\u0000${uri}`;
    this.#subscriptions.get(key)?.delete(session);
    if (this.#subscriptions.get(key)?.size === 0) this.#subscriptions.delete(key);
  }

  /** Whether a 2025 session or a 2026-07-28 listen stream watches a backend URI (the backend then keeps its subscription). */
  isSubscribed(backend: string, uri: string): boolean {
    const key = `${backend}\u0000${uri}`;
    return this.#subscriptions.has(key) || this.#listening.has(key);
  }

  /** A 2026-07-28 listen stream watches a backend URI; the returned function (idempotent) ends that, once the stream ends. */
  holdListen(backend: string, uri: string): () => void {
    const key = `${backend}\u0000${uri}`;
    this.#listening.set(key, (this.#listening.get(key) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.#listening.get(key) ?? 1) - 1;
      if (left <= 0) this.#listening.delete(key);
      else this.#listening.set(key, left);
    };
  }

  /** Hears each backend resources/updated that a 2026-07-28 listen stream watches (backend, original URI). */
  onResourceUpdated(listener: (backend: string, uri: string) => void): void {
    this.#updated.push(listener);
  }

  /** A backend said a subscribed resource changed: tell the sessions that subscribed, in their naming, and the listen streams. */
  resourceUpdated(backend: string, uri: string): void {
    if (this.#listening.has(`${backend}\u0000${uri}`)) for (const listener of this.#updated) listener(backend, uri);
    for (const session of this.#subscriptions.get(`${backend}\u0000${uri}`) ?? []) {
      const view = this.#sessions.get(session);
      const shown = view?.single === undefined ? prefixUri(backend, uri) : uri;
      this.#send(() => session.sendResourceUpdated({ uri: shown }));
    }
  }

  /** Tells every session that sees `backend` that a list changed. */
  listChanged(backend: string, what: 'tools' | 'resources' | 'prompts'): void {
    for (const listener of this.#changed) listener(backend, what);
    for (const [session, view] of this.#sessions) {
      if (!sees(view, backend)) continue;
      if (what === 'tools' && view.single === undefined && view.expose === 'meta') continue;
      this.#send(() => {
        if (what === 'tools') return session.sendToolListChanged();
        if (what === 'resources') return session.sendResourceListChanged();
        return session.sendPromptListChanged();
      });
    }
  }

  /** Closes every session (gateway stop). */
  async closeAll(): Promise<void> {
    const sessions = [...this.#sessions.keys()];
    this.#sessions.clear();
    for (const ref of this.#refs.values()) ref.ended = true;
    this.#refs.clear();
    for (const principal of this.#principals.values()) principal.ref.ended = true;
    this.#principals.clear();
    this.#subscriptions.clear();
    this.#listening.clear();
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }

  #end(ref: { id: string; ended: boolean }): void {
    ref.ended = true;
    for (const listener of this.#ended) listener(ref.id);
  }

  #send(send: () => Promise<void>): void {
    // A session that is not initialized yet, or whose stream is gone, cannot be told; that is not an error of the backend's.
    send().catch((err: unknown) => this.#log.debug({ error: (err as Error).message }, 'could not notify a session'));
  }
}
