import type { BenchContext } from '../bench.js';
import { DEMO, MCP_PROXY, NODE, ROOT, SUPERGATEWAY } from './paths.js';
import { freePort, waitForPort } from './ports.js';
import type { BenchProcess } from './processes.js';

/** A peer gateway in front of the demo backend. */
export interface RunningPeer {
  /** Base URL, e.g. http://127.0.0.1:PORT. */
  url: string;
  process: BenchProcess;
  stop(): Promise<void>;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The one backend command every target runs. */
export const DEMO_COMMAND = [NODE, DEMO] as const;

/**
 * supergateway, stdio → Streamable HTTP, stateful: one demo process per
 * session (spawned through a shell at initialize). It has no host flag and
 * listens on every interface; the bench only connects over loopback.
 * Logging is off (`--logLevel none`), its cheapest setting.
 */
export async function startSupergateway(ctx: BenchContext): Promise<RunningPeer> {
  const port = await freePort();
  const stdio = DEMO_COMMAND.map(shellQuote).join(' ');
  const proc = ctx.processes.spawn(
    'supergateway',
    SUPERGATEWAY,
    ['--stdio', stdio, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'],
    {
      cwd: ROOT,
    },
  );
  await waitForPort(port, 20_000, proc.exited).catch((err: Error) => {
    throw new Error(`${err.message}: ${proc.tail.join('\n')}`);
  });
  return { url: `http://127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}

/**
 * mcp-proxy: one demo process started up front and shared by every session,
 * served as Streamable HTTP on /mcp and legacy SSE on /sse, bound to
 * loopback. Defaults otherwise (its resumability event store is on, as
 * stonegate's is).
 */
export async function startMcpProxy(ctx: BenchContext): Promise<RunningPeer> {
  const port = await freePort();
  const proc = ctx.processes.spawn('mcp-proxy', MCP_PROXY, ['--port', String(port), '--host', '127.0.0.1', '--', ...DEMO_COMMAND], { cwd: ROOT });
  await waitForPort(port, 30_000, proc.exited).catch((err: Error) => {
    throw new Error(`${err.message}: ${proc.tail.join('\n')}`);
  });
  return { url: `http://127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}
