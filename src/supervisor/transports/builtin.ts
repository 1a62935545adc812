import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import type { BackendConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { Connection } from '../../pool/connection.js';
import { VERSION } from '../../version.js';
import type { TransportContext } from '../transport.js';

/**
 * A built-in backend (the coordination server) runs in the gateway's
 * process over the SDK's in-memory transport: no child, but still one
 * initialized client per pooled connection, so it is routed, pooled,
 * broken and counted like any backend.
 */
export async function connectBuiltin(config: BackendConfig, context: TransportContext): Promise<Connection> {
  const { hooks, builtins: factories } = context;
  const factory = factories.get(config.name);
  if (factory === undefined) {
    throw new GatewayError('BACKEND_UNAVAILABLE', `No built-in backend named '${config.name}' (built-ins: ${[...factories.keys()].join(', ') || 'none'})`, {
      details: { permanent: true },
    });
  }
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const server = factory();
  const client = new Client({ name: 'stonegate', version: VERSION }, hooks.clientOptions ?? { capabilities: {} });
  hooks.setup?.(client);
  const ended = new Promise<{ reason: string; stderr: readonly string[] }>((resolve) => {
    clientSide.onclose = () => resolve({ reason: 'closed its in-memory connection', stderr: [] });
  });
  await server.connect(serverSide);
  await client.connect(clientSide, { timeout: config.startTimeout });
  return new Connection({
    client,
    ended,
    shutdown: async () => {
      await client.close();
      await server.close();
    },
  });
}
