import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  type CallToolResult,
  type Progress,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { CatalogTool } from '../catalog/catalog.js';
import { toGatewayError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { Downstream } from '../pool/connection.js';
import { VERSION } from '../version.js';
import { callGateTool, GATE_TOOL_NAMES, GATE_TOOLS } from './gate-tools.js';
import { registerResourceProxy } from './resource-proxy.js';
import { toolError } from './tool-error.js';
import { rpcFailure } from './rpc-error.js';
import { sees, type View } from './view.js';

const LooseResult = z.looseObject({});

type Extra = {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification: (n: { method: string; params?: Record<string, unknown> }) => Promise<void>;
  sendRequest: (r: { method: string; params?: Record<string, unknown> }, schema: typeof LooseResult) => Promise<Record<string, unknown>>;
};

/** The agent behind one request: where the backend's requests during that call go. */
function downstreamOf(extra: Extra): Downstream {
  return {
    request: (method, params) => extra.sendRequest({ method, params }, LooseResult),
    notify: (method, params) => extra.sendNotification({ method, params }),
  };
}

/**
 * Forwards a call's progress to the agent. Notifications are chained and
 * the call's result waits for the chain (flush): the response must not
 * overtake the last progress notification on the agent's stream, which
 * would drop it.
 */
function progressOf(extra: Extra): { onprogress?: (progress: Progress) => void; flush: () => Promise<void> } {
  const token = extra._meta?.progressToken;
  if (token === undefined) return { flush: async () => undefined };
  let chain: Promise<void> = Promise.resolve();
  return {
    onprogress: (progress) => {
      chain = chain.then(() => extra.sendNotification({ method: 'notifications/progress', params: { ...progress, progressToken: token } })).catch(() => undefined);
    },
    flush: () => chain,
  };
}

const GATEWAY_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  completions: {},
  logging: {},
};

/**
 * The MCP server one agent session talks to. It holds no state of its own
 * beyond the view: tools come from the catalog, calls go through the
 * router, so every session sees the same backends, breakers and pools.
 */
export function createSessionServer(gateway: Gateway, view: View): Server {
  const single = view.single;
  const meta = single === undefined ? undefined : gateway.catalog.meta(single);
  // A per-server endpoint mirrors its backend (capabilities, name,
  // instructions) so that it can replace a direct connection.
  const capabilities = single === undefined ? GATEWAY_CAPABILITIES : { ...(meta?.capabilities ?? {}), logging: {} };
  const server = new Server(meta?.serverInfo ?? { name: 'stonegate', version: VERSION }, {
    capabilities,
    instructions:
      single === undefined
        ? 'stonegate routes tool calls to many MCP servers. Tools are named <server>__<tool>. If you do not know which tool fits, call gate_discover with a few words, then call the tool by name or with gate_call.'
        : meta?.instructions,
  });
  server.oninitialized = () => {
    view.caller = server.getClientVersion()?.name;
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    await gateway.settled();
    return { tools: listTools(gateway, view) };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, rawExtra): Promise<CallToolResult> => {
    const extra = rawExtra as unknown as Extra;
    const name = request.params.name;
    const args = request.params.arguments ?? {};
    const progress = progressOf(extra);
    if (single === undefined && GATE_TOOL_NAMES.has(name)) {
      try {
        return await callGateTool(gateway, view, name, args, { signal: extra.signal, onprogress: progress.onprogress, downstream: downstreamOf(extra) });
      } catch (err) {
        return toolError(toGatewayError(err));
      } finally {
        await progress.flush();
      }
    }
    const lookup = (): CatalogTool | undefined => (single === undefined ? gateway.catalog.byExposed(name) : gateway.catalog.resolve(single, name));
    let entry = lookup();
    if (entry === undefined) {
      await gateway.settled();
      entry = lookup();
    }
    if (entry === undefined || !sees(view, entry.server)) {
      throw rpcFailure(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    try {
      const outcome = await gateway.router.call({
        server: entry.server,
        tool: entry.name,
        arguments: args,
        caller: view.caller,
        signal: extra.signal,
        onprogress: progress.onprogress,
        servers: view.servers,
        downstream: downstreamOf(extra),
      });
      return outcome.result;
    } catch (err) {
      return toolError(toGatewayError(err));
    } finally {
      await progress.flush();
    }
  });

  if (capabilities.resources !== undefined || capabilities.prompts !== undefined || capabilities.completions !== undefined) {
    registerResourceProxy(server, gateway, view, capabilities);
  }
  return server;
}

/** The tools a view lists: proxied tools under their exposed (or, per server, original) names, then the gate tools. */
export function listTools(gateway: Gateway, view: View): Tool[] {
  if (view.single !== undefined) return gateway.catalog.tools(view.servers).map((t) => t.definition);
  const tools: Tool[] = [];
  if (view.expose === 'all') {
    for (const t of gateway.catalog.tools(view.servers)) tools.push(t.name === t.exposed ? t.definition : { ...t.definition, name: t.exposed });
  }
  tools.push(...GATE_TOOLS);
  return tools;
}
