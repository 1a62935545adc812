import { AsyncLocalStorage } from 'node:async_hooks';
import type { SessionRef } from './affinity-pool.js';

/** The ref a connection is being made for, taken at most once. */
interface Making {
  readonly ref: SessionRef;
  taken: boolean;
}

/**
 * [oauth-out] The SessionRef a connection is being made for, while its
 * connector runs (AffinityPool sets it around the factory of a ref with an
 * `identity`). The transport takes it once, at connect: a connection made
 * for an identity carries that identity's credentials for its whole life and
 * serves that identity's pool alone. Taken once because async context
 * flows on into everything the connect starts (its stream reader, the
 * timers of a restart it may cause): a connection made later from there (a
 * shared one, the gateway's own) must not find the identity.
 */
const making = new AsyncLocalStorage<Making>();

/** Runs `create` with `ref` as the ref its connection is made for. */
export function connectFor<T>(ref: SessionRef, create: () => Promise<T>): Promise<T> {
  return making.run({ ref, taken: false }, create);
}

/** Runs `create` with no ref: the connection is nobody's own (the shared pool's). */
export function connectShared<T>(create: () => Promise<T>): Promise<T> {
  return making.exit(create);
}

/** Takes the identity the connection being made is for, once; undefined for any other connection. */
export function takeConnectingIdentity(): string | undefined {
  const store = making.getStore();
  if (store === undefined || store.taken) return undefined;
  store.taken = true;
  return store.ref.identity;
}
