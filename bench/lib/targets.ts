import { Agent, request } from 'node:http';
import type { DiscoverResult, Transport } from '@modelcontextprotocol/client';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { DEMO_COMMAND } from './peers.js';
import { MARKER, MARKER_VAR } from './processes.js';

/** One client's way to make calls: each call() is one tools/call of echo, checked. */
export interface Caller {
  call(): Promise<void>;
  close(): Promise<void>;
}

/** Something to benchmark: a way to reach demo `echo`. */
export interface Target {
  /** Short id used in tables: `stonegate /mcp`. */
  name: string;
  /** Opens `n` callers: n MCP sessions, or for direct stdio and REST n handles on one shared link/connection pool. */
  open(n: number): Promise<Caller[]>;
}

/** The text every call echoes (64 bytes, like a short argument). */
export const PAYLOAD = 'stonegate-bench-payload-0123456789abcdefghijklmnopqrstuvwxyzABCD';

const SESSION_OPEN_CONCURRENCY = 8;

function checkEcho(raw: object, where: string): void {
  const result = raw as { content?: unknown; isError?: unknown };
  const first = Array.isArray(result.content) ? (result.content[0] as { text?: unknown } | undefined) : undefined;
  if (result.isError === true || first?.text !== PAYLOAD) throw new Error(`${where}: unexpected echo result ${JSON.stringify(result).slice(0, 300)}`);
}

/** Runs `fn` n times with at most `limit` at once, keeping order. */
async function openMany<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const opened: T[] = [];
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const value = await fn(i);
      out[i] = value;
      opened.push(value);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  } catch (err) {
    // Close what did open so that a failed open leaves no session behind.
    await Promise.all(opened.map((v) => (v as Caller).close?.().catch(() => undefined)));
    throw err;
  }
  return out;
}

/** One SDK client session; `tools` are called in turn. */
async function mcpSession(transport: Transport, tools: readonly string[], where: string): Promise<Caller> {
  const client = new Client({ name: 'stonegate-bench', version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  let i = 0;
  return {
    async call() {
      const name = tools[i++ % tools.length] as string;
      checkEcho(await client.callTool({ name, arguments: { text: PAYLOAD } }), where);
    },
    async close() {
      // DELETE ends the session on the server (supergateway stops its child there).
      if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/** An MCP Streamable HTTP endpoint; each caller is its own session. */
export function streamableTarget(name: string, endpoint: string, tools: readonly string[] = ['echo']): Target {
  return {
    name,
    open: (n) => openMany(n, SESSION_OPEN_CONCURRENCY, () => mcpSession(new StreamableHTTPClientTransport(new URL(endpoint)), tools, name)),
  };
}

/**
 * An MCP URL in the 2026-07-28 era: no initialize and no session, each call
 * one stateless POST. One client pinned to 2026-07-28 asks server/discover
 * once; every caller then connects with that answer as its prior (the SDK's
 * gateway pattern), so the rows measure calls, not negotiation.
 */
export function modernTarget(name: string, endpoint: string, tools: readonly string[] = ['echo']): Target {
  return {
    name,
    async open(n) {
      const probe = new Client({ name: 'stonegate-bench-probe', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await probe.connect(new StreamableHTTPClientTransport(new URL(endpoint)));
      const discover: DiscoverResult | undefined = probe.getDiscoverResult();
      await probe.close().catch(() => undefined);
      if (discover === undefined) throw new Error(`${name}: no server/discover answer`);
      return openMany(n, SESSION_OPEN_CONCURRENCY, async () => {
        const client = new Client({ name: 'stonegate-bench', version: '1.0.0' }, { capabilities: {} });
        await client.connect(new StreamableHTTPClientTransport(new URL(endpoint)), { prior: { kind: 'modern', discover } });
        if (client.getProtocolEra() !== 'modern') throw new Error(`${name}: connected in the ${client.getProtocolEra()} era`);
        let i = 0;
        return {
          async call() {
            const tool = tools[i++ % tools.length] as string;
            checkEcho(await client.callTool({ name: tool, arguments: { text: PAYLOAD } }), name);
          },
          close: () => client.close().catch(() => undefined),
        };
      });
    },
  };
}

/**
 * A client that makes one call and goes, as scripts and short-lived agents
 * do: each call() is a fresh SDK client. In the 2025 era that is initialize,
 * notifications/initialized, the call and DELETE; in the 2026-07-28 era
 * (`modern`, with an earlier server/discover answer as its prior) it is the
 * call's one POST.
 */
export function oneShotTarget(name: string, endpoint: string, tool: string, era: 'session' | 'modern'): Target {
  return {
    name,
    async open(n) {
      let discover: DiscoverResult | undefined;
      if (era === 'modern') {
        const probe = new Client({ name: 'stonegate-bench-probe', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
        await probe.connect(new StreamableHTTPClientTransport(new URL(endpoint)));
        discover = probe.getDiscoverResult();
        await probe.close().catch(() => undefined);
        if (discover === undefined) throw new Error(`${name}: no server/discover answer`);
      }
      const prior = discover === undefined ? undefined : ({ kind: 'modern', discover } as const);
      const caller: Caller = {
        async call() {
          const transport = new StreamableHTTPClientTransport(new URL(endpoint));
          const client = new Client({ name: 'stonegate-bench', version: '1.0.0' }, { capabilities: {} });
          await client.connect(transport, prior === undefined ? undefined : { prior });
          try {
            checkEcho(await client.callTool({ name: tool, arguments: { text: PAYLOAD } }), name);
          } finally {
            if (prior === undefined) await transport.terminateSession().catch(() => undefined);
            await client.close().catch(() => undefined);
          }
        },
        close: async () => undefined,
      };
      return Array.from({ length: n }, () => caller);
    },
  };
}

/** A legacy HTTP+SSE endpoint (GET stream + POST messages); each caller is its own session. */
export function sseTarget(name: string, endpoint: string, tools: readonly string[] = ['echo']): Target {
  return {
    name,
    open: (n) => openMany(n, SESSION_OPEN_CONCURRENCY, () => mcpSession(new SSEClientTransport(new URL(endpoint)), tools, name)),
  };
}

/**
 * The backend itself over stdio with the SDK's StdioClientTransport: the
 * floor every gateway adds to. n callers share one client, so concurrency n
 * is n requests multiplexed over one stdio link.
 */
export function directStdioTarget(name = 'direct stdio'): Target {
  return {
    name,
    async open(n) {
      const transport = new StdioClientTransport({
        command: DEMO_COMMAND[0],
        args: [DEMO_COMMAND[1]],
        env: { ...getDefaultEnvironment(), [MARKER_VAR]: MARKER },
        stderr: 'ignore',
      });
      const shared = await mcpSession(transport, ['echo'], name);
      let closing: Promise<void> | undefined;
      const caller: Caller = { call: () => shared.call(), close: () => (closing ??= shared.close()) };
      return Array.from({ length: n }, () => caller);
    },
  };
}

/**
 * stonegate's REST POST /call with fetch (undici, keep-alive); n callers
 * share fetch's connection pool, so n calls are in flight at once on up to
 * n connections. `servers` are called in turn.
 */
export function restTarget(name: string, baseUrl: string, servers: readonly string[] = ['demo']): Target {
  const bodies = servers.map((server) => JSON.stringify({ server, tool: 'echo', arguments: { text: PAYLOAD } }));
  let i = 0;
  const caller: Caller = {
    async call() {
      const body = bodies[i++ % bodies.length] as string;
      const response = await fetch(`${baseUrl}/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const json = (await response.json()) as { result?: { content?: unknown; isError?: unknown } };
      if (response.status !== 200 || json.result === undefined) throw new Error(`${name}: HTTP ${response.status} ${JSON.stringify(json).slice(0, 300)}`);
      checkEcho(json.result, name);
    },
    close: async () => undefined,
  };
  return { name, open: async (n) => Array.from({ length: n }, () => caller) };
}

/**
 * The same REST call with node:http and a keep-alive Agent instead of
 * fetch: a much cheaper client (fetch costs this machine ~500 µs of CPU
 * per request, node:http ~150), to show how much of a REST number is the
 * client's own cost.
 */
export function restHttpTarget(name: string, baseUrl: string, servers: readonly string[] = ['demo']): Target {
  const url = new URL('/call', baseUrl);
  const bodies = servers.map((server) => Buffer.from(JSON.stringify({ server, tool: 'echo', arguments: { text: PAYLOAD } })));
  let i = 0;
  let agent: Agent | undefined;
  const once = (body: Buffer): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const caller: Caller = {
    async call() {
      const { status, text } = await once(bodies[i++ % bodies.length] as Buffer);
      const json = JSON.parse(text) as { result?: object };
      if (status !== 200 || json.result === undefined) throw new Error(`${name}: HTTP ${status} ${text.slice(0, 300)}`);
      checkEcho(json.result, name);
    },
    close: async () => agent?.destroy(),
  };
  return {
    name,
    open: async (n) => {
      agent = new Agent({ keepAlive: true, maxSockets: n });
      return Array.from({ length: n }, () => caller);
    },
  };
}

/** Closes callers once each (shared ones appear several times). */
export async function closeAll(callers: readonly Caller[]): Promise<void> {
  await Promise.all([...new Set(callers)].map((c) => c.close().catch(() => undefined)));
}
