import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { VERSION } from '../version.js';

/*
 * `stonegate doctor --url` pointed at a standalone coordination server
 * (`stonegate coord`, or the seed's port 3392): it answers /health with
 * name "stonegate-coord" (backends/coord/standalone-app.ts). Then doctor
 * checks what that server serves — its store, MCP on /mcp with its mux_*
 * tools, REST under /coord and at the seed's root paths — instead of a
 * gateway's backends.
 */

/** The name a standalone coordination server gives in its root /health. */
export const COORD_SERVER_NAME = 'stonegate-coord';

/** One doctor line: level, what was checked, what was found, and how to fix a failure. */
export type DoctorLine = (level: 'ok' | 'warn' | 'FAIL' | 'skip', what: string, detail: string, fix?: string) => void;

async function status(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Checks a standalone coordination server at `base` whose root /health answered `health`. */
export async function checkCoordServer(line: DoctorLine, base: string, health: Record<string, unknown>): Promise<void> {
  const what = `coord server ${String(health.version)}`;
  if (health.status === 'ok') line('ok', '/health', `${what}: ok, store ${String(health.store)} (schema ${String(health.schema_version)})`);
  else
    line(
      'FAIL',
      '/health',
      `${what}: ${String(health.status)}${health.problem === undefined ? '' : ` — ${String(health.problem)}`}`,
      "move the database aside or restore it from a backup, then restart 'stonegate coord'",
    );

  const client = new Client({ name: 'stonegate-doctor', version: VERSION });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
  try {
    await client.connect(transport);
    const server = client.getServerVersion();
    line('ok', 'MCP initialize', `${base}/mcp: ${server?.name ?? '?'} ${server?.version ?? ''}, protocol ${transport.protocolVersion ?? '?'}`);
    const { tools } = await client.listTools();
    const mux = tools.filter((t) => t.name.startsWith('mux_')).length;
    if (mux === 0) line('warn', 'tools/list', 'no mux_* tools listed', 'check [coordination] tools (the tool subset) of the server');
    else line('ok', 'tools/list', `${mux} mux_* tools`);
  } catch (e) {
    line(
      'FAIL',
      'MCP initialize',
      `${base}/mcp: ${(e as Error).message.slice(0, 200)}`,
      'use a loopback name in the URL (127.0.0.1 or localhost), or see the server log',
    );
  } finally {
    await client.close().catch(() => undefined);
  }

  // The REST routes under /coord and, for the seed's clients, at the root.
  for (const path of ['/coord/stats', '/stats']) {
    const code = await status(`${base}${path}`);
    if (code === 200) line('ok', `GET ${path}`, 'answers');
    else line('FAIL', `GET ${path}`, `answered ${code === 0 ? 'nothing' : code}`, 'see the server log; an older stonegate coord serves REST only under /coord');
  }
}
