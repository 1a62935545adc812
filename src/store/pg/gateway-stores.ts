import { unreachable } from '../../../kit/pg-unreachable.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { GatewayDatabase } from '../database.js';
import type { GatewayStores } from '../factory.js';
import { PgAuditStore } from './audit-store.js';
import { BackendsChannel } from './backends-channel.js';
import { openPgDatabase, type PgGatewayDatabase } from './database.js';
import { PgDispatchStore } from './dispatch-store.js';
import { PgFingerprintStore } from './fingerprint-store.js';
import { PgRuntimeBackendStore } from './runtime-backends.js';

/**
 * The gateway's stores on PostgreSQL (`[store] url`): runtime backends, tool
 * fingerprints, the audit log and async dispatch in the shared database
 * (runtime backends and fingerprints hear other gateways' changes on one
 * listening connection); `local` keeps what stays per gateway. Loaded by
 * factory.ts only for a PostgreSQL URL.
 */
export async function openPgGatewayStores(
  config: Pick<Config, 'store' | 'dispatch'>,
  local: GatewayDatabase,
  instance: string,
  logger?: Logger,
): Promise<GatewayStores> {
  // [pg-speed] Dispatch, the backends channel and coordination LISTEN on one connection (kit/pg-listen-hub.ts).
  const settings = { url: config.store.url, max: config.store.pool_size, sharedListen: true };
  let db: PgGatewayDatabase;
  try {
    db = await openPgDatabase(settings).catch(unreachable('[store] url', config.store.url));
  } catch (error) {
    local.close();
    throw error;
  }
  const dispatch = new PgDispatchStore(db.pool, { instance, leaseMs: config.store.lease * 1000, resultTtlMs: config.dispatch.result_ttl * 1000 });
  let channel: BackendsChannel | undefined;
  let fingerprints: PgFingerprintStore;
  try {
    await dispatch.listen(settings);
    const listening = await BackendsChannel.open(settings, logger);
    channel = listening;
    fingerprints = await PgFingerprintStore.open(db.pool, { local, logger, attach: (store) => listening.onTools(store) });
  } catch (error) {
    await channel?.close();
    await dispatch.close();
    await db.close();
    local.close();
    throw error;
  }
  const backends = channel;
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    local,
    runtime: new PgRuntimeBackendStore(db.pool, settings, backends),
    fingerprints,
    audit: new PgAuditStore(db.pool),
    dispatch,
    instance,
    problem: () =>
      db.pool.query('SELECT 1').then(
        () => undefined,
        (error: unknown) => `PostgreSQL ([store] url) did not answer: ${(error as Error).message}`,
      ),
    close: () =>
      (closing ??= (async () => {
        await backends.close();
        await dispatch.close();
        await fingerprints.close();
        await db.close();
        local.close();
      })()),
  };
}
