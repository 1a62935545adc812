/*
 * The ways bench/coord.ts reaches the coordination tools: REST (node:http or
 * fetch), MCP through the SDK client, and the store called in-process.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Agent, request } from 'node:http';
import { openSqliteStore } from '../backends/coord/sqlite-store.js';

/** One way to reach the coordination tools: send, poll, register. */
export interface Surface {
  name: string;
  /** The process that serves it (for its CPU time); undefined for the in-process store. */
  pid: number | undefined;
  register(agent: string): Promise<void>;
  send(from: string, to: string, content: string): Promise<void>;
  /** Polls `agent`'s inbox (each message returned once), waiting up to `timeout` s; returns the contents. */
  poll(agent: string, timeout: number): Promise<string[]>;
  close(): Promise<void>;
}

/** One HTTP exchange: status and parsed JSON body. */
type Exchange = (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

/** fetch (undici) with its keep-alive pool: what most agents would use, and the costlier client. */
function fetchExchange(base: string): Exchange {
  return async (method, path, body) => {
    const init: RequestInit = body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const response = await fetch(`${base}${path}`, init);
    return { status: response.status, body: await response.json() };
  };
}

/**
 * node:http with a keep-alive agent: about a third of fetch's CPU per request,
 * which leaves more of the shared CPUs to the server. The pool is dropped
 * when nothing was in flight for a second: a socket idle for the server's
 * keep-alive timeout (5 s) may be closed by the server just as it is reused
 * ("socket hang up"), and the bench leaves each surface idle for longer
 * between its phases.
 */
function httpExchange(base: string): { exchange: Exchange; close(): void } {
  const url = new URL(base);
  let agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let inFlight = 0;
  let idleSince = performance.now();
  const exchange: Exchange = (method, path, body) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      if (inFlight === 0 && performance.now() - idleSince > 1_000) {
        agent.destroy();
        agent = new Agent({ keepAlive: true, maxSockets: 64 });
      }
      inFlight += 1;
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length };
      const req = request({ host: url.hostname, port: url.port, path, method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch (error) {
            reject(error as Error);
          }
        });
      });
      req.on('error', reject);
      req.end(payload);
    }).finally(() => {
      inFlight -= 1;
      idleSince = performance.now();
    });
  return { exchange, close: () => agent.destroy() };
}

/** REST under `${base}/coord`. */
export function restSurface(name: string, base: string, pid: number, client: 'node:http' | 'fetch'): Surface {
  const { exchange, close } = client === 'fetch' ? { exchange: fetchExchange(base), close: () => undefined } : httpExchange(base);
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const answer = await exchange(method, `/coord${path}`, body);
    if (answer.status !== 200) throw new Error(`${method} /coord${path}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
    return answer.body;
  };
  return {
    name,
    pid,
    register: async (agentId) => void (await call('POST', '/agent/register', { agent_id: agentId, role: 'bench' })),
    send: async (from, to, content) => void (await call('POST', '/msg/send', { from, to, content })),
    async poll(agentId, timeout) {
      const body = (await call('GET', `/msg/poll?agent_id=${agentId}&timeout=${timeout}&limit=1000`)) as { messages?: { content: string }[] };
      return (body.messages ?? []).map((m) => m.content);
    },
    close: async () => close(),
  };
}

/** The store itself in this process, no HTTP and no MCP: the ceiling every surface stays under. */
export function storeSurface(name: string, path: string): Surface {
  const store = openSqliteStore(path, {});
  return {
    name,
    pid: undefined,
    register: async (agent) => void (await store.registerAgent({ agent_id: agent, role: 'bench' })),
    send: async (from, to, content) => void (await store.sendMessage({ from, to, content })),
    poll: async (agent, timeout) => (await store.poll({ agent_id: agent, timeout_ms: timeout * 1000, limit: 1000 })).messages.map((m) => m.content),
    close: () => store.close(),
  };
}

/** MCP on `${base}/mcp`: one session per caller (`sessions` of them, handed out in turn), tools `coord__mux_*`. */
export async function mcpSurface(name: string, base: string, pid: number, sessions: number): Promise<Surface> {
  const clients: Client[] = [];
  for (let i = 0; i < sessions; i += 1) {
    const client = new Client({ name: `coord-bench-${i}`, version: '1.0.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
    clients.push(client);
  }
  /** Each agent keeps to one session, as an agent would. */
  const byAgent = new Map<string, Client>();
  const clientOf = (agent: string): Client => {
    let client = byAgent.get(agent);
    if (client === undefined) {
      client = clients[byAgent.size % clients.length] as Client;
      byAgent.set(agent, client);
    }
    return client;
  };
  const call = async (agent: string, tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const result = (await clientOf(agent).callTool({ name: `coord__${tool}`, arguments: args })) as CallToolResult;
    if (result.isError === true) throw new Error(`coord__${tool}: ${JSON.stringify(result.content).slice(0, 300)}`);
    return (result.structuredContent ?? {}) as Record<string, unknown>;
  };
  return {
    name,
    pid,
    register: async (agent) => void (await call(agent, 'mux_register', { agent_id: agent, role: 'bench' })),
    send: async (from, to, content) => void (await call(from, 'mux_send', { from, to, content })),
    async poll(agent, timeout) {
      const body = await call(agent, 'mux_poll', { agent_id: agent, timeout, limit: 1000 });
      return (body.messages as { content: string }[]).map((m) => m.content);
    },
    close: async () => void (await Promise.all(clients.map((c) => c.close().catch(() => undefined)))),
  };
}
