import { storeClosed } from './rules.js';
import type { CoordStore } from './store.js';

/**
 * A CoordStore usable before it is open: for stores that open
 * asynchronously (PostgreSQL) where the caller must hand a store out at once
 * (the gateway builds its routes and MCP servers synchronously). Every call
 * waits for the opening; `ready()` opens it early so that a bad URL fails a
 * start instead of the first call.
 */
export function deferredStore(kind: string, open: () => Promise<CoordStore>): { store: CoordStore; ready: () => Promise<CoordStore> } {
  let opening: Promise<CoordStore> | undefined;
  let closed = false;
  const ready = (): Promise<CoordStore> => (opening ??= open());
  const store = new Proxy({} as CoordStore, {
    get(_target, prop): unknown {
      if (prop === 'kind') return kind;
      // Not a thenable: `await store` must give the proxy itself.
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      if (prop === 'close') {
        return async (): Promise<void> => {
          if (closed) return;
          closed = true;
          const opened = await opening?.catch(() => undefined);
          await opened?.close();
        };
      }
      return async (...args: unknown[]): Promise<unknown> => {
        if (closed) throw storeClosed();
        const target = await ready();
        const method = target[prop as keyof CoordStore];
        if (typeof method !== 'function') throw new TypeError(`CoordStore has no method ${String(prop)}`);
        return (method as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return { store, ready };
}
