import type { CallToolResult, McpServer } from '@modelcontextprotocol/server';
import type { CoordStore } from './store.js';

/*
 * Token accounting on every coord tool answer (agents-mcp-server-readme.txt,
 * "Token Efficiency"): `_meta` carries the size of the answer's text in chars
 * and lines, the server-side ms, and the unread count of the agent the call
 * acts as, so an agent sees its budget and its mail without polling. The
 * text itself stays the bare JSON (programs parse it, and it equals
 * structuredContent), so the accounting lives in `_meta` only.
 */

/** What `_meta` of a coord tool result carries (besides "stonegate/error" on refusals). */
export interface ToolMeta {
  chars: number;
  lines: number;
  ms: number;
  /** Messages waiting past the agent's cursors, up to UNREAD_COUNT_CAP (1,000: that many or more); null when the call names no agent. */
  unread: number | null;
}

/** The argument fields that say which agent a call acts as, in order of preference. */
const AGENT_FIELDS = ['agent_id', 'from', 'posted_by', 'updated_by', 'created_by'] as const;

type ToolCallback = (...params: unknown[]) => CallToolResult | Promise<CallToolResult>;

function actingAgent(args: unknown): string | undefined {
  if (args === null || typeof args !== 'object') return undefined;
  for (const field of AGENT_FIELDS) {
    const value = (args as Record<string, unknown>)[field];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** Adds `_meta` to a result. */
export async function withToolMeta(result: CallToolResult, started: number, agent: string | undefined, store: CoordStore): Promise<CallToolResult> {
  const text = result.content.map((block) => (block.type === 'text' ? block.text : '')).join('\n');
  const ms = Math.round((performance.now() - started) * 100) / 100;
  const unread = agent === undefined ? null : await store.unreadCount(agent).catch(() => null);
  const meta: ToolMeta = { chars: text.length, lines: text === '' ? 0 : text.split('\n').length, ms, unread };
  return { ...result, _meta: { ...result._meta, ...meta } };
}

/**
 * Makes every tool registered on `server` from now on answer with `_meta`.
 * Wrapping registerTool keeps the tool files free of accounting: a tool
 * added later is measured without being told.
 */
export function measureTools(server: McpServer, store: CoordStore): void {
  const register = server.registerTool.bind(server) as (name: string, config: unknown, callback: ToolCallback) => unknown;
  const wrapped = (name: string, config: unknown, callback: ToolCallback): unknown =>
    register(name, config, async (...params: unknown[]) => {
      const started = performance.now();
      const result = await callback(...params);
      // With an input schema the SDK passes (args, extra); without one, (extra).
      return withToolMeta(result, started, params.length > 1 ? actingAgent(params[0]) : undefined, store);
    });
  server.registerTool = wrapped as typeof server.registerTool;
}
