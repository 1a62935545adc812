import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { Downstream } from '../pool/connection.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { sees, type View } from './view.js';

/** The gateway's own tools, listed on /mcp beside the proxied ones. */
export const GATE_TOOLS: readonly Tool[] = [
  {
    name: 'gate_call',
    description:
      'Call any tool of any backend behind this gateway by backend and tool name. Use it for tools found with gate_discover, or when the tool list is reduced to the gate tools. Returns exactly what the tool returns.',
    inputSchema: {
      type: 'object',
      properties: {
        server: { type: 'string', description: 'Backend name, as gate_discover or gate_status show it.' },
        tool: { type: 'string', description: "The tool's name on its backend (not the prefixed name)." },
        arguments: { type: 'object', description: "The tool's arguments, matching its inputSchema.", additionalProperties: true },
      },
      required: ['server', 'tool'],
      additionalProperties: false,
    },
    annotations: { title: 'Call a backend tool', openWorldHint: true },
  },
  {
    name: 'gate_discover',
    description:
      'Find tools by what they do. Give a few words ("read file", "search issues"); returns the best-matching tools of every backend with their server, name, prefixed name, description and input schema, best first. Call one with gate_call or by its prefixed name.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Words describing the tool you need; empty lists every tool.' },
        server: { type: 'string', description: 'Only tools of this backend.' },
        limit: { type: 'integer', minimum: 1, maximum: 100, description: 'Most results to return (default 10).' },
      },
      additionalProperties: false,
    },
    annotations: { title: 'Discover tools', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'gate_status',
    description:
      'Health of the backends behind this gateway: status (running, restarting, failed…), circuit breaker state, pool use, call counts and error rate, last error. Use it when calls fail to see whether a backend is down.',
    inputSchema: {
      type: 'object',
      properties: { server: { type: 'string', description: 'Only this backend.' } },
      additionalProperties: false,
    },
    annotations: { title: 'Gateway status', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
];

export const GATE_TOOL_NAMES: ReadonlySet<string> = new Set(GATE_TOOLS.map((t) => t.name));

/** What a gate tool call carries from its MCP request. */
export interface GateCallContext {
  signal: AbortSignal;
  onprogress?: (progress: Progress) => void;
  downstream: Downstream;
}

function json(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value as Record<string, unknown> };
}

function str(args: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const value = args[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new GatewayError('INVALID_ARGUMENTS', `'${key}' must be a non-empty string`);
  }
  return value;
}

function checkServer(view: View, server: string | undefined): void {
  if (server !== undefined && !sees(view, server)) {
    throw new GatewayError('UNKNOWN_SERVER', `No backend named '${server}' in this view`);
  }
}

/** Runs a gate tool. Throws GatewayError; the session turns it into an isError result. */
export async function callGateTool(gateway: Gateway, view: View, name: string, args: Record<string, unknown>, ctx: GateCallContext): Promise<CallToolResult> {
  switch (name) {
    case 'gate_call': {
      const server = str(args, 'server', true) as string;
      const tool = str(args, 'tool', true) as string;
      const toolArgs = args.arguments ?? {};
      if (typeof toolArgs !== 'object' || toolArgs === null || Array.isArray(toolArgs)) {
        throw new GatewayError('INVALID_ARGUMENTS', "'arguments' must be an object");
      }
      const outcome = await gateway.router.call({
        server,
        tool,
        arguments: toolArgs as Record<string, unknown>,
        caller: view.caller,
        signal: ctx.signal,
        onprogress: ctx.onprogress,
        servers: view.servers,
        downstream: ctx.downstream,
      });
      return outcome.result;
    }
    case 'gate_discover': {
      const query = args.query === undefined ? '' : String(args.query);
      const server = str(args, 'server', false);
      checkServer(view, server);
      const limit = args.limit === undefined ? 10 : Number(args.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('INVALID_ARGUMENTS', "'limit' must be an integer from 1 to 100");
      const servers = server !== undefined ? new Set([server]) : view.servers;
      const tools = gateway.catalog.discover(query, { servers, limit }).map(({ tool, score }) => ({
        server: tool.server,
        name: tool.name,
        exposed_name: tool.exposed,
        description: tool.description,
        inputSchema: tool.inputSchema,
        score,
      }));
      return json({ query, tools, total: tools.length });
    }
    case 'gate_status': {
      const server = str(args, 'server', false);
      checkServer(view, server);
      if (server !== undefined) gateway.supervisor.get(server);
      const servers = server !== undefined ? new Set([server]) : view.servers;
      return json({ health: gateway.health(), servers: gateway.serverList(servers) });
    }
    default:
      throw new GatewayError('UNKNOWN_TOOL', `No gate tool '${name}'`);
  }
}
