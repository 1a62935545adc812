import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { type AuditStore, SqliteAuditStore } from './audit.js';
import { type GatewayDatabase, openDatabase } from './database.js';
import { type DispatchStore, SqliteDispatchStore } from './dispatch-store.js';
import { type FingerprintStore, SqliteFingerprintStore } from './fingerprints.js';
import { type RuntimeBackendStore, SqliteRuntimeBackendStore } from './runtime-backends.js';

/** The gateway's stores, as [store] url picks them. */
export interface GatewayStores {
  readonly kind: 'sqlite' | 'postgres';
  /** data_dir/stonegate.db. With PostgreSQL it holds nothing shared (its tool fingerprints seed the shared ones once). */
  readonly local: GatewayDatabase;
  /** Tool fingerprints and approvals: data_dir, or shared by every gateway on the PostgreSQL. */
  readonly fingerprints: FingerprintStore;
  readonly runtime: RuntimeBackendStore;
  /** The audit log's rows: data_dir, or shared by every gateway on the PostgreSQL. */
  readonly audit: AuditStore;
  readonly dispatch: DispatchStore;
  /** This gateway process among the others on the same database. */
  readonly instance: string;
  /** [pg-speed] PostgreSQL: why the shared database does not answer one `SELECT 1` now (GET /health), or undefined. */
  problem?(): Promise<string | undefined>;
  /** Closes what the stores opened. Idempotent. */
  close(): Promise<void>;
}

/** A name for this gateway process, unique among the gateways on one database. */
export function instanceName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Opens the stores [store] names: everything in data_dir (url ""), or the shared ones in PostgreSQL. */
export async function openGatewayStores(
  config: Pick<Config, 'server' | 'store' | 'dispatch'>,
  instance = instanceName(),
  logger?: Logger,
): Promise<GatewayStores> {
  const local = openDatabase(config.server.dataDir);
  if (config.store.url === '') {
    return {
      kind: 'sqlite',
      local,
      runtime: new SqliteRuntimeBackendStore(local),
      fingerprints: new SqliteFingerprintStore(local),
      audit: new SqliteAuditStore(local),
      dispatch: new SqliteDispatchStore(local),
      instance,
      close: async () => void local.close(),
    };
  }
  // The PostgreSQL driver and stores load only for a PostgreSQL URL.
  const { openPgGatewayStores } = await import('./pg/gateway-stores.js');
  return openPgGatewayStores(config, local, instance, logger);
}
