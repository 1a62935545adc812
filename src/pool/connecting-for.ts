import { AsyncLocalStorage } from 'node:async_hooks';
import type { SessionRef } from './affinity-pool.js';

/**
 * [oauth-out] The SessionRef a connection is being made for, while its
 * connector runs (AffinityPool sets it around the factory of a ref with an
 * `identity`). A transport reads it once, at connect: a connection made for
 * an identity carries that identity's credentials for its whole life, and
 * serves that identity's pool alone. Unset for every other connection (the
 * shared pool's: the gateway's own).
 */
export const connectingFor = new AsyncLocalStorage<SessionRef>();

/** The identity the connection being made is for, if it is one's own. */
export function connectingIdentity(): string | undefined {
  return connectingFor.getStore()?.identity;
}
