import { storeClosed } from './rules.js';
import type { CoordStore } from './store.js';

/**
 * A CoordStore usable before it is open: for stores that open
 * asynchronously (PostgreSQL) where the caller must hand a store out at once
 * (the gateway builds its routes and MCP servers synchronously). Every call
 * waits for the opening (once it is open, a call goes straight to the store);
 * `ready()` opens it early so that a bad URL fails a start instead of the
 * first call.
 */
export function deferredStore(kind: string, open: () => Promise<CoordStore>): { store: CoordStore; ready: () => Promise<CoordStore> } {
  let opening: Promise<CoordStore> | undefined;
  let closed = false;
  // [pg-speed] The store once open, and its methods as this proxy hands them out: a call then goes straight to it, without
  // an async wrapper and an await of the opening per call (both showed in a busy gateway's --cpu-prof, issue #31).
  let opened: CoordStore | undefined;
  const direct = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  const ready = (): Promise<CoordStore> =>
    (opening ??= open().then((target) => {
      opened = target;
      return target;
    }));
  const store = new Proxy({} as CoordStore, {
    get(_target, prop): unknown {
      if (prop === 'kind') return kind;
      // Not a thenable: `await store` must give the proxy itself.
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      if (prop === 'close') {
        return async (): Promise<void> => {
          if (closed) return;
          closed = true;
          const target = await opening?.catch(() => undefined);
          await target?.close();
        };
      }
      if (opened !== undefined) return forward(opened, prop);
      return async (...args: unknown[]): Promise<unknown> => {
        if (closed) throw storeClosed();
        const target = await ready();
        const method = target[prop as keyof CoordStore];
        if (typeof method !== 'function') throw new TypeError(`CoordStore has no method ${String(prop)}`);
        return (method as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  /** `prop` of the open store, as a function that refuses once the proxy is closed (as the wrapper above does). */
  function forward(target: CoordStore, prop: string): (...args: unknown[]) => Promise<unknown> {
    let fn = direct.get(prop);
    if (fn !== undefined) return fn;
    const method: unknown = target[prop as keyof CoordStore];
    // Whether it is a method is known now, once, not at every call.
    if (typeof method !== 'function') fn = () => Promise.reject(new TypeError(`CoordStore has no method ${prop}`));
    else {
      fn = (...args: unknown[]): Promise<unknown> => {
        if (closed) return Promise.reject(storeClosed());
        try {
          return (method as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    }
    direct.set(prop, fn);
    return fn;
  }
  return { store, ready };
}
