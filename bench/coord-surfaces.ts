/*
 * The ways bench/coord.ts reaches the coordination tools: REST (the lean
 * client or node:http), MCP (JSON-RPC over the lean client, or the SDK
 * client), and the store called in-process.
 */

import { Agent, request } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { openSqliteStore } from '../backends/coord/sqlite-store.js';
import { headerOf, type LeanAnswer, LeanPool } from './lib/lean-http.js';

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

/** The lean client of bench/lib/lean-http.ts: a socket per request in flight, raw HTTP/1.1. */
function leanExchange(base: string): { exchange: Exchange; close(): void } {
  const pool = new LeanPool(base);
  const exchange: Exchange = async (method, path, body) => {
    const answer = await pool.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    return { status: answer.status, body: JSON.parse(answer.body.toString('utf8')) as unknown };
  };
  return { exchange, close: () => pool.close() };
}

/** The HTTP clients a REST surface can use: the lean one, or node:http (a client agents commonly use). */
export type RestClient = 'lean' | 'node:http';

/** REST under `${base}/coord`. */
export function restSurface(name: string, base: string, pid: number, client: RestClient): Surface {
  const { exchange, close } = client === 'lean' ? leanExchange(base) : httpExchange(base);
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

/** A Surface over a coord tool caller (MCP through the SDK client or the lean client). */
function toolSurface(
  name: string,
  pid: number,
  call: (agent: string, tool: string, args: Record<string, unknown>) => Promise<Record<string, unknown>>,
  close: () => Promise<void>,
): Surface {
  return {
    name,
    pid,
    register: async (agent) => void (await call(agent, 'mux_register', { agent_id: agent, role: 'bench' })),
    send: async (from, to, content) => void (await call(from, 'mux_send', { from, to, content })),
    async poll(agent, timeout) {
      const body = await call(agent, 'mux_poll', { agent_id: agent, timeout, limit: 1000 });
      return (body.messages as { content: string }[]).map((m) => m.content);
    },
    close,
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
  return toolSurface(name, pid, call, async () => void (await Promise.all(clients.map((c) => c.close().catch(() => undefined)))));
}

/** The JSON-RPC message of an /mcp answer: a JSON body, or the first `data:` line of an SSE body. */
function rpcMessage(answer: LeanAnswer): { result?: Record<string, unknown>; error?: { message: string } } {
  const text = answer.body.toString('utf8');
  if (/\r\ncontent-type:\s*text\/event-stream/i.test(answer.head)) {
    const data = /^data: (.*)$/m.exec(text);
    if (data === null) throw new Error(`SSE answer without data: ${text.slice(0, 200)}`);
    return JSON.parse(data[1] as string) as { result?: Record<string, unknown> };
  }
  return JSON.parse(text) as { result?: Record<string, unknown> };
}

/**
 * MCP on `${base}/mcp` spoken directly: JSON-RPC POSTs over the lean
 * keep-alive client, one initialized session per connection (`sessions` of
 * them, one per agent in turn), answers read as JSON or SSE. This is the
 * Streamable HTTP protocol an agent's own client speaks, without the SDK
 * client's cost in the bench process (zod checks of every message, fetch).
 */
export async function mcpLeanSurface(name: string, base: string, pid: number, sessions: number): Promise<Surface> {
  // The session travels in a header, so any pooled socket serves any session.
  const pool = new LeanPool(base);
  const accept = 'accept: application/json, text/event-stream\r\n';
  /** Initializes one session; its request headers. */
  const open = async (i: number): Promise<string> => {
    const init = {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: `coord-bench-lean-${i}`, version: '1.0.0' } },
    };
    const answer = await pool.request('POST', '/mcp', JSON.stringify(init), accept);
    const session = headerOf(answer, 'mcp-session-id');
    if (answer.status !== 200 || session === undefined) throw new Error(`initialize: HTTP ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
    const headers = `${accept}mcp-session-id: ${session}\r\nmcp-protocol-version: 2025-06-18\r\n`;
    const ack = await pool.request('POST', '/mcp', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
    if (ack.status !== 202) throw new Error(`notifications/initialized: HTTP ${ack.status}`);
    return headers;
  };
  const links = await Promise.all(Array.from({ length: sessions }, (_, i) => open(i)));
  /** Each agent keeps to one session, as an agent would. */
  const byAgent = new Map<string, string>();
  let nextId = 1;
  const call = async (agent: string, tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
    let headers = byAgent.get(agent);
    if (headers === undefined) {
      headers = links[byAgent.size % links.length] as string;
      byAgent.set(agent, headers);
    }
    const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: `coord__${tool}`, arguments: args } });
    const answer = await pool.request('POST', '/mcp', body, headers);
    const message = rpcMessage(answer);
    if (answer.status !== 200 || message.result === undefined)
      throw new Error(`coord__${tool}: HTTP ${answer.status} ${JSON.stringify(message.error ?? message).slice(0, 300)}`);
    if (message.result.isError === true) throw new Error(`coord__${tool}: ${JSON.stringify(message.result.content).slice(0, 300)}`);
    return (message.result.structuredContent ?? {}) as Record<string, unknown>;
  };
  return toolSurface(name, pid, call, async () => {
    for (const headers of links) await pool.request('DELETE', '/mcp', undefined, headers).catch(() => undefined);
    pool.close();
  });
}
