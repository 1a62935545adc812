import type { CallToolResult, Progress, Tool } from '@modelcontextprotocol/server';
import { unknownKeysSentence } from '../config/did-you-mean.js';
import { scrubDeep } from '../config/redact.js';
import { viewOf } from '../dispatch/table.js';
import { GatewayError } from '../errors.js';
import type { RoundFields } from '../pool/backend-era.js';
import type { Downstream } from '../pool/connection.js';
import { submitterContext } from '../telemetry/telemetry.js';
import { appOnly, refuseAppOnly } from './apps.js';
import { GATE_INPUTS, toolInputSchema } from './gate-inputs.js';
import { viewTarget } from './named-view.js';
import type { GatewaySurface } from './surface.js';
import { sees, type View } from './view.js';

/** What this module reads and calls of the gateway. */
export type GateToolSources = Pick<GatewaySurface, 'catalog' | 'dispatch' | 'health' | 'router' | 'security' | 'serverList' | 'settled' | 'supervisor'>;

/** The gateway's own tools, listed on /mcp beside the proxied ones. */
export const GATE_TOOLS: readonly Tool[] = [
  {
    name: 'gate_call',
    description:
      'Call any tool of any backend behind this gateway by backend and tool name. Use it for tools found with gate_discover, or when the tool list is reduced to the gate tools. Returns exactly what the tool returns.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_call),
    annotations: { title: 'Call a backend tool', openWorldHint: true },
  },
  {
    name: 'gate_discover',
    description:
      'Find tools by what they do. Give a few words ("read file", "search issues"); returns the best-matching tools of every backend with their server, name, prefixed name, description and input schema, best first. Call one with gate_call or by its prefixed name.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_discover),
    annotations: { title: 'Discover tools', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'gate_status',
    description:
      'Health of the backends behind this gateway: status (running, restarting, failed…), circuit breaker state, pool use, call counts and error rate, last error. Use it when calls fail to see whether a backend is down.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_status),
    annotations: { title: 'Gateway status', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'gate_call_async',
    description:
      'Start a long tool call (export, build, crawl) without waiting for it. Same input as gate_call; returns {call_id, submitted_at} at once. Then check it with gate_poll, wait for it with gate_await, or stop it with gate_cancel. Results are kept for a while after the call ends.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_call_async),
    annotations: { title: 'Start an async call', openWorldHint: true },
  },
  {
    name: 'gate_poll',
    description:
      'Check an async call started with gate_call_async. Returns {call_id, status} with status pending, running, complete, failed or cancelled, the latest progress while it runs, and the result (or the error with its code) once it ended. Does not wait.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_poll),
    annotations: { title: 'Poll an async call', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'gate_await',
    description:
      'Wait for an async call to end, up to timeout_ms (at most 60 s by default), then return the same as gate_poll. If it is still running when the time is up, the status says so: call gate_await again.',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_await),
    annotations: { title: 'Await an async call', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'gate_cancel',
    description:
      'Cancel an async call that is pending or running; the backend is told to stop. Returns the call with its final status (cancelled, or how it ended if it had finished already).',
    inputSchema: toolInputSchema(GATE_INPUTS.gate_cancel),
    annotations: { title: 'Cancel an async call', destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
];

export const GATE_TOOL_NAMES: ReadonlySet<string> = new Set(GATE_TOOLS.map((t) => t.name));

/** What a gate tool call carries from its MCP request. */
export interface GateCallContext {
  signal: AbortSignal;
  onprogress?: (progress: Progress) => void;
  downstream: Downstream;
  /** [mcp-bridge] A 2026-07-28 retry's fields, for gate_call of a 2026-07-28 backend's tool. */
  round?: RoundFields;
}

/** A structured result, with the same JSON as text (compact: agents pay for every byte) for clients that read only text. */
function json(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value as Record<string, unknown> };
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
  if (server !== undefined && view.allowed !== undefined && !view.allowed.has(server)) {
    throw new GatewayError('FORBIDDEN', `This token may not use backend '${server}'; it is limited to: ${[...view.allowed].join(', ')}`);
  }
  if (server !== undefined && !sees(view, server)) {
    throw new GatewayError('UNKNOWN_SERVER', `No backend named '${server}' in this view`);
  }
}

/** The backend, tool and arguments of a gate_call or gate_call_async, checked. */
function callTarget(view: View, args: Record<string, unknown>): { server: string; tool: string; toolArgs: Record<string, unknown> } {
  const server = str(args, 'server', true) as string;
  const tool = str(args, 'tool', true) as string;
  const toolArgs = args.arguments ?? {};
  if (typeof toolArgs !== 'object' || toolArgs === null || Array.isArray(toolArgs)) {
    throw new GatewayError('INVALID_ARGUMENTS', "'arguments' must be an object");
  }
  checkServer(view, server);
  return { server, tool, toolArgs: toolArgs as Record<string, unknown> };
}

/**
 * [[views]] The backend's name of the tool a gate_call names in a named view:
 * its new name for a renamed tool (the original is UNKNOWN_TOOL there), and
 * FORBIDDEN for a tool the view leaves out. Without a view, the name as given.
 */
async function toolInView(gateway: GateToolSources, view: View, server: string, tool: string): Promise<string> {
  if (view.named === undefined) return tool;
  if (gateway.catalog.tools(new Set([server])).length === 0) await gateway.settled();
  return viewTarget(gateway.catalog, view.named, server, tool).name;
}

const GATE_TOOL_KEYS: ReadonlyMap<string, readonly string[]> = new Map(Object.entries(GATE_INPUTS).map(([name, schema]) => [name, Object.keys(schema.shape)]));

/**
 * Every gate tool's schema is strict (additionalProperties: false); a key it does
 * not take is refused, never dropped (a typo in 'arguments' would otherwise
 * call the tool with {}). INVALID_ARGUMENTS: on MCP these are the gate
 * tool's arguments; REST refuses the same key in a body as BAD_REQUEST.
 */
function refuseUnknownKeys(name: string, args: Record<string, unknown>): void {
  const known = GATE_TOOL_KEYS.get(name);
  if (known === undefined) return;
  const unknown = Object.keys(args).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new GatewayError('INVALID_ARGUMENTS', unknownKeysSentence(unknown, known, name));
}

/** Runs a gate tool. Throws GatewayError; the session turns it into an isError result. */
export async function callGateTool(
  gateway: GateToolSources,
  view: View,
  name: string,
  args: Record<string, unknown>,
  ctx: GateCallContext,
): Promise<CallToolResult> {
  refuseUnknownKeys(name, args);
  switch (name) {
    case 'gate_call': {
      const { server, tool: named, toolArgs } = callTarget(view, args);
      const tool = await toolInView(gateway, view, server, named);
      refuseAppOnly(gateway.catalog.resolve(server, tool)?.definition, server, tool);
      const outcome = await gateway.router.call({
        server,
        tool,
        arguments: toolArgs,
        caller: view.caller,
        signal: ctx.signal,
        onprogress: ctx.onprogress,
        servers: view.servers,
        downstream: ctx.downstream,
        session: view.session,
        round: ctx.round,
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
      // [[views]] A named view searches only its tools, under its names and descriptions.
      const named = view.named;
      const { ranked, matched } = gateway.catalog.discover(query, { servers, limit, ...(named === undefined ? {} : { accept: named.shows }) });
      const tools = ranked
        .filter(({ tool }) => !appOnly(tool.definition))
        .map(({ tool, score }) => ({
          server: tool.server,
          name: named === undefined || named.nameOf(tool) === tool.exposed ? tool.name : named.nameOf(tool),
          exposed_name: named === undefined ? tool.exposed : named.nameOf(tool),
          description: named === undefined ? tool.description : named.descriptionOf(tool),
          inputSchema: tool.inputSchema,
          score,
        }));
      return json({ query, tools, total: tools.length, matched, has_more: matched > tools.length });
    }
    case 'gate_status': {
      const server = str(args, 'server', false);
      checkServer(view, server);
      if (server !== undefined) gateway.supervisor.get(server);
      const servers = server !== undefined ? new Set([server]) : view.servers;
      return json({ health: await gateway.health(), servers: gateway.serverList(servers) });
    }
    case 'gate_call_async': {
      const { server, tool: named, toolArgs } = callTarget(view, args);
      const tool = await toolInView(gateway, view, server, named);
      refuseAppOnly(gateway.catalog.resolve(server, tool)?.definition, server, tool);
      const submitted = { server, tool, arguments: toolArgs, caller: view.caller, owner: view.owner ?? null, servers: view.servers };
      // [otel] The submitting request's span's context (recorded), else the caller's `_meta` one.
      const call = await gateway.dispatch.submit({ ...submitted, traceContext: submitterContext(ctx.signal, ctx.downstream.traceContext) });
      return json({ call_id: call.id, submitted_at: call.submitted_at, status: call.state });
    }
    case 'gate_poll':
      return json(scrubDeep(viewOf(await gateway.dispatch.get(str(args, 'call_id', true) as string, view.owner ?? null)), gateway.security.secrets()));
    case 'gate_await': {
      const timeout = args.timeout_ms === undefined ? 30_000 : Number(args.timeout_ms);
      if (!Number.isFinite(timeout) || timeout < 0) throw new GatewayError('INVALID_ARGUMENTS', "'timeout_ms' must be a number of milliseconds ≥ 0");
      return json(
        scrubDeep(
          viewOf(await gateway.dispatch.wait(str(args, 'call_id', true) as string, view.owner ?? null, timeout, ctx.signal)),
          gateway.security.secrets(),
        ),
      );
    }
    case 'gate_cancel':
      return json(scrubDeep(viewOf(await gateway.dispatch.cancel(str(args, 'call_id', true) as string, view.owner ?? null)), gateway.security.secrets()));
    default:
      throw new GatewayError('UNKNOWN_TOOL', `No gate tool '${name}'`);
  }
}
