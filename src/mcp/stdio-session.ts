import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { createSessionServer, type SessionServerSources } from './session-server.js';
import type { View } from './view.js';

/** What this module reads and calls of the gateway. */
export type StdioSessionSources = SessionServerSources;

/**
 * `stonegate serve --stdio`: one MCP session over stdin/stdout, for clients
 * that only launch stdio servers. Resolves when the client closes stdin.
 */
export async function serveStdio(gateway: StdioSessionSources, io: { input?: Readable; output?: Writable } = {}): Promise<void> {
  const input = io.input ?? process.stdin;
  const view: View = { expose: gateway.config.gateway.expose, servers: undefined, single: undefined, caller: undefined };
  const server = createSessionServer(gateway, view);
  const transport = new StdioServerTransport(input, io.output ?? process.stdout);
  const closed = new Promise<void>((resolve) => {
    // The SDK's stdio transport does not notice EOF on its own.
    input.once('end', resolve);
    transport.onclose = () => resolve();
  });
  gateway.sessions.add(server, view);
  await server.connect(transport);
  await closed;
  gateway.sessions.remove(server);
  await server.close().catch(() => undefined);
}
