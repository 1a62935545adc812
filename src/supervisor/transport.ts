import type { McpServer } from '@modelcontextprotocol/server';
import type { BackendConfig, Transport } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Connection } from '../pool/connection.js';
import type { ConnectHooks } from './connect.js';
import { connectBuiltin } from './transports/builtin.js';
import { connectHttp } from './transports/http.js';
import { connectStdio } from './transports/stdio.js';

/** Makes a fresh MCP server of a built-in backend for one connection. */
export type BuiltinFactory = () => McpServer;

/** What a transport's connector is given besides the backend's entry. */
export interface TransportContext {
  logger: Logger;
  hooks: ConnectHooks;
  /** The built-in backends' servers, by backend name (the builtin transport). */
  builtins: ReadonlyMap<string, BuiltinFactory>;
  /** [oauth-out] The data_dir, where the OAuth tokens of backends are kept (none: tokens in memory only). */
  dataDir?: string;
}

/** Opens one initialized MCP connection to a backend over one transport. */
export type TransportConnector = (config: BackendConfig, context: TransportContext) => Promise<Connection>;

/**
 * One connector per transport ([[backends]] transport), each in
 * transports/. A new transport (WebSocket, say) is one file there, one line
 * here, and its name in config/transports.ts.
 */
export const TRANSPORTS: Readonly<Record<Transport, TransportConnector>> = {
  stdio: connectStdio,
  http: connectHttp,
  builtin: connectBuiltin,
};

/** Makes a connection for a backend; swapped in tests and for built-in backends. */
export type Connector = (config: BackendConfig, logger: Logger, hooks: ConnectHooks) => Promise<Connection>;

/** Connects over the backend's transport (TRANSPORTS), with the built-in backends' servers by name. */
export function transportConnector(builtins: ReadonlyMap<string, BuiltinFactory> = new Map(), dataDir?: string): Connector {
  return (config, logger, hooks) => TRANSPORTS[config.transport](config, { logger, hooks, builtins, ...(dataDir === undefined ? {} : { dataDir }) });
}

export const defaultConnector: Connector = transportConnector();
