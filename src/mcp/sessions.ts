import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Logger } from '../log.js';
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

  constructor(logger: Logger) {
    this.#log = logger;
  }

  get size(): number {
    return this.#sessions.size;
  }

  add(server: Server, view: View): void {
    this.#sessions.set(server, view);
  }

  remove(server: Server): void {
    this.#sessions.delete(server);
    for (const [key, set] of this.#subscriptions) {
      set.delete(server);
      if (set.size === 0) this.#subscriptions.delete(key);
    }
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

  isSubscribed(backend: string, uri: string): boolean {
    return this.#subscriptions.has(`${backend}\u0000${uri}`);
  }

  /** A backend said a subscribed resource changed: tell the sessions that subscribed, in their naming. */
  resourceUpdated(backend: string, uri: string): void {
    for (const session of this.#subscriptions.get(`${backend}\u0000${uri}`) ?? []) {
      const view = this.#sessions.get(session);
      const shown = view?.single === undefined ? prefixUri(backend, uri) : uri;
      this.#send(session, () => session.sendResourceUpdated({ uri: shown }));
    }
  }

  /** Tells every session that sees `backend` that a list changed. */
  listChanged(backend: string, what: 'tools' | 'resources' | 'prompts'): void {
    for (const [session, view] of this.#sessions) {
      if (!sees(view, backend)) continue;
      if (what === 'tools' && view.single === undefined && view.expose === 'meta') continue;
      this.#send(session, () => {
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
    this.#subscriptions.clear();
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }

  #send(session: Server, send: () => Promise<void>): void {
    // A session that is not initialized yet, or whose stream is gone, cannot be told; that is not an error of the backend's.
    send().catch((err: unknown) => this.#log.debug({ error: (err as Error).message }, 'could not notify a session'));
  }
}
