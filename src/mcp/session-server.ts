import type { CallToolResult, JSONRPCRequest, Progress, Result, ServerCapabilities, ServerContext } from '@modelcontextprotocol/server';
import { LOG_LEVEL_META_KEY, ProtocolErrorCode, Server } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { CatalogTool } from '../catalog/catalog.js';
import { taskOf } from '../dispatch/task-store.js';
import { rpcFailure, toGatewayError } from '../errors.js';
import { roundOf, traced } from '../pool/backend-era.js';
import type { Downstream } from '../pool/connection.js';
import { relayedError } from '../router/input-rounds.js';
import { tracing } from '../telemetry/telemetry.js';
import { VERSION } from '../version.js';
import { appCall, appResult, appTools } from './apps.js';
import { bridgedCall } from './bridged-call.js';
import { cacheHintsFor } from './cache-hints.js';
import { type CoordPushSources, coordPush, withChannel } from './coord-push.js';
import { callGateTool, GATE_TOOL_NAMES } from './gate-tools.js';
import { toolOf } from './named-view.js';
import { relayedTaskResult } from './relayed-task.js';
import { registerResourceProxy } from './resource-proxy.js';
import type { GatewaySurface } from './surface.js';
import { declaresTasks, modernTask, registerTaskMethods, submitTask, submitterOf, withTasksExtension } from './task-extension.js';
import { taskRequests } from './task-handlers.js';
import { toolError } from './tool-error.js';
import { listTools } from './tool-list.js';
import { sees, type View } from './view.js';

/** What this module reads and calls of the gateway. */
export type SessionServerSources = Pick<
  GatewaySurface,
  'catalog' | 'config' | 'dispatch' | 'health' | 'logger' | 'router' | 'security' | 'serverList' | 'sessions' | 'settled' | 'storeError' | 'supervisor'
> &
  CoordPushSources;

const LooseResult = z.looseObject({});

interface CallParams {
  name: string;
  arguments: Record<string, unknown>;
  task: unknown;
}

/** The params of a tools/call, or -32602 naming what is wrong. */
function callParams(request: JSONRPCRequest): CallParams {
  const params = request.params;
  const name = params?.name;
  const args = params?.arguments ?? {};
  if (typeof name !== 'string') throw rpcFailure(ProtocolErrorCode.InvalidParams, 'Invalid tools/call request: params.name must be a string');
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw rpcFailure(ProtocolErrorCode.InvalidParams, 'Invalid tools/call request: params.arguments must be an object');
  }
  return { name, arguments: args as Record<string, unknown>, task: params?.task };
}

/** Log levels from least to most severe (the spec's order). */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/**
 * Whether a backend's log message reaches a 2026-07-28 caller: only when
 * its request set `_meta["io.modelcontextprotocol/logLevel"]`, and only at
 * that severity or above (no logs without it).
 */
function logged(ctx: ServerContext, params: Record<string, unknown> | undefined): boolean {
  const threshold = LOG_LEVELS.indexOf(String((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[LOG_LEVEL_META_KEY]));
  const level = LOG_LEVELS.indexOf(String(params?.level));
  return threshold >= 0 && level >= threshold;
}

/** [mcp-bridge] The level a 2025 session asked for with logging/setLevel: passed to 2026-07-28 backends with its calls. */
const sessionLogLevels = new WeakMap<Server, string>();

/** The agent behind one request: where the backend's requests during that call go. */
function downstreamOf(ctx: ServerContext, server: Server, view: View): Downstream {
  if (view.modern === true) {
    return traced(ctx, {
      modern: true,
      takesTasks: declaresTasks(ctx),
      capabilities: () => server.getClientCapabilities(),
      logLevel: () => {
        const level = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[LOG_LEVEL_META_KEY];
        return typeof level === 'string' ? level : undefined;
      },
      // Never reached: refusal() answers a modern caller's backend first.
      request: (method) => Promise.reject(rpcFailure(ProtocolErrorCode.MethodNotFound, `stonegate refused ${method}: 2026-07-28 caller`)),
      notify: async (method, params) => {
        if (method !== 'notifications/message' || logged(ctx, params)) await ctx.mcpReq.notify({ method, params });
      },
    });
  }
  return traced(ctx, {
    // Undefined until initialize: a stateless POST's server never sees one.
    capabilities: () => server.getClientCapabilities(),
    logLevel: () => sessionLogLevels.get(server),
    request: (method, params) => ctx.mcpReq.send({ method, params }, LooseResult),
    notify: (method, params) => ctx.mcpReq.notify({ method, params }),
  });
}

/**
 * Forwards a call's progress to the agent. Notifications are chained and
 * the call's result waits for the chain (flush): the response must not
 * overtake the last progress notification on the agent's stream, which
 * would drop it.
 */
function progressOf(ctx: ServerContext): { onprogress?: (progress: Progress) => void; flush: () => Promise<void> } {
  const token = ctx.mcpReq._meta?.progressToken;
  if (token === undefined) return { flush: async () => undefined };
  let chain: Promise<void> = Promise.resolve();
  return {
    onprogress: (progress) => {
      chain = chain.then(() => ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...progress, progressToken: token } })).catch(() => undefined);
    },
    flush: () => chain,
  };
}

// Tasks (2025-11-25): a task-augmented tools/call becomes an async call of
// the dispatch table; tasks/* are answered from it.
const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

const GATEWAY_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  tasks: TASKS_CAPABILITY,
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  completions: {},
  logging: {},
};

/**
 * A 2026-07-28 server's capabilities: no 2025 `tasks` (tasks/* are not
 * methods of that era). `resources.subscribe` stays: in that era it says
 * that subscriptions/listen honours `resourceSubscriptions` (the method
 * resources/subscribe itself is gone, and the SDK answers it 404).
 */
function modernCapabilities(capabilities: ServerCapabilities): ServerCapabilities {
  const { tasks: _tasks, ...rest } = capabilities;
  return rest;
}

/**
 * The extensions `/mcp` advertises: every extension a backend the view sees
 * advertised in its capabilities, so a client that negotiates one (MCP
 * Apps' `io.modelcontextprotocol/ui`, say) learns that some tool behind the
 * gateway speaks it. An extension two backends advertise with different
 * settings keeps the first backend's, by backend name. Undefined when none.
 */
export function extensionsOf(gateway: Pick<SessionServerSources, 'catalog' | 'supervisor'>, view: View): ServerCapabilities['extensions'] {
  const union: NonNullable<ServerCapabilities['extensions']> = {};
  // Every backend, not only those with tools (the catalog lists those).
  const names = gateway.supervisor
    .list()
    .map((b) => b.name)
    .sort();
  for (const name of names) {
    if (!sees(view, name)) continue;
    for (const [id, settings] of Object.entries(gateway.catalog.meta(name)?.capabilities.extensions ?? {})) {
      if (!(id in union)) union[id] = settings;
    }
  }
  return Object.keys(union).length === 0 ? undefined : union;
}

const MODERN_GATEWAY_CAPABILITIES = modernCapabilities(GATEWAY_CAPABILITIES);

/**
 * Per-server capabilities, built once per backend listing: a 2026-07-28
 * request builds a server each time, so they are not rebuilt for each one.
 * Keyed on the catalog's capabilities object, which a new listing replaces.
 */
const mirrored = new WeakMap<object, { legacy: ServerCapabilities; modern: ServerCapabilities }>();

function capabilitiesOf(backend: ServerCapabilities | undefined, era: Era): ServerCapabilities {
  if (backend === undefined) return era === 'modern' ? MODERN_GATEWAY_CAPABILITIES : GATEWAY_CAPABILITIES;
  let both = mirrored.get(backend);
  if (both === undefined) {
    const legacy = { ...backend, logging: {}, tasks: TASKS_CAPABILITY };
    both = { legacy, modern: modernCapabilities(legacy) };
    mirrored.set(backend, both);
  }
  return both[era];
}

/** The methods whose 2026-07-28 answers carry cache hints. */
const HINTED = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);
/** The 2026-07-28 methods whose answers show the server's capabilities. */
const SHOWS_CAPABILITIES = new Set(['server/discover', 'subscriptions/listen']);
/** The methods registerResourceProxy answers. */
const PROXIED = new Set([
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);

/** Which protocol era a server is built for: a 2025 session, or one 2026-07-28 request. */
export type Era = 'legacy' | 'modern';

/**
 * The MCP server one agent session talks to. It holds no state of its own
 * beyond the view: tools come from the catalog, calls go through the
 * router, so every session sees the same backends, breakers and pools.
 *
 * A 2026-07-28 request gets a server of its own that answers `only` its
 * one method (the SDK has checked Mcp-Method against the body before the
 * server is built): nothing else is registered, and a method the gateway
 * does not serve has no handler, which the SDK answers 404 (-32601).
 */
export function createSessionServer(gateway: SessionServerSources, view: View, era: Era = 'legacy', only?: string): Server {
  const single = view.single;
  const meta = single === undefined ? undefined : gateway.catalog.meta(single);
  const answers = (method: string): boolean => only === undefined || only === method;
  // A per-server endpoint mirrors its backend (capabilities, name,
  // instructions) so that it can replace a direct connection.
  const base = capabilitiesOf(single === undefined ? undefined : (meta?.capabilities ?? {}), era);
  // /mcp: the gateway's own, with the extensions of the backends the view sees (both eras). A 2026-07-28
  // request shows its capabilities only in server/discover (and listen reads them): other methods skip the union.
  const extensions = single === undefined && (only === undefined || SHOWS_CAPABILITIES.has(only)) ? extensionsOf(gateway, view) : undefined;
  // [mcp-ext] A 2026-07-28 view whose backends run task tools advertises the Tasks extension too.
  const tasked = withTasksExtension(gateway, view, era === 'modern' && (only === undefined || SHOWS_CAPABILITIES.has(only)), base, extensions);
  // [coord-push] A 2025 session on /mcp that sees coord is a Claude Code channel (experimental claude/channel).
  const capabilities = era === 'legacy' ? withChannel(gateway, view, tasked) : tasked;
  const server = new Server(meta?.serverInfo ?? { name: 'stonegate', version: VERSION }, {
    capabilities,
    // Modern answers only: the SDK never puts them on a 2025-era result.
    ...(era === 'modern' && (only === undefined || HINTED.has(only)) ? { cacheHints: cacheHintsFor(gateway, view) } : {}),
    instructions:
      single === undefined
        ? 'stonegate routes tool calls to many MCP servers. Tools are named <server>__<tool>. If you do not know which tool fits, call gate_discover with a few words, then call the tool by name or with gate_call.'
        : meta?.instructions,
  });
  tracing()?.traceServer(server, { session: () => view.session?.id, client: () => server.getClientVersion()?.name }); // [otel] a span per MCP request
  server.oninitialized = () => {
    // With auth the caller is the token's name, whatever the client calls itself.
    if (view.owner === undefined) view.caller = server.getClientVersion()?.name;
    // [coord-push] A client that declared claude/channel (or Claude Code) is pushed its agent's coordination notices.
    if (era === 'legacy' && single === undefined) coordPush(gateway)?.channel(server, view);
  };

  if (era === 'legacy') {
    // [mcp-bridge] Kept for 2026-07-28 backends (2025 backends are not told: their connections are shared); the gateway sends no logs of its own.
    server.setRequestHandler('logging/setLevel', async (request) => {
      sessionLogLevels.set(server, request.params.level);
      return {};
    });
  }

  if (answers('tools/list')) {
    server.setRequestHandler('tools/list', async () => {
      await gateway.settled();
      return { tools: appTools(gateway, view, listTools(gateway, view), server.getClientCapabilities()) };
    });
  }

  /*
   * tools/call is answered by the fallback handler, the SDK's public hook for
   * methods without a registered handler: a registered tools/call would be
   * parsed against the spec schema and its result parsed (deep-copied) again,
   * undoing the router's pass-through. The params are checked by hand below,
   * and the agent's client checks the result.
   */
  const callTool = async (request: JSONRPCRequest, ctx: ServerContext): Promise<CallToolResult> => {
    const params = callParams(request);
    const { name, arguments: args } = params;
    const progress = progressOf(ctx);
    // [mcp-bridge] A 2026-07-28 retry's fields, for a 2026-07-28 backend (passed on untouched).
    const round = roundOf(ctx.mcpReq);
    const downstream = downstreamOf(ctx, server, view);
    if (single === undefined && GATE_TOOL_NAMES.has(name)) {
      try {
        return await callGateTool(gateway, view, name, args, { signal: ctx.mcpReq.signal, onprogress: progress.onprogress, downstream, round });
      } catch (err) {
        const relayed = relayedError(err, downstream, round);
        if (relayed !== undefined) throw relayed;
        // gate_call_async and gate_poll read and write the gateway database: a broken file is STORE_UNAVAILABLE, as on REST.
        return toolError(gateway.storeError(err) ?? toGatewayError(err), gateway.security.secrets());
      } finally {
        await progress.flush();
      }
    }
    // [[views]] A named view's names; a tool it leaves out is unknown here (and so to 2025 tasks and the Tasks extension).
    const lookup = (): CatalogTool | undefined => toolOf(gateway.catalog, view, name);
    let entry = lookup();
    if (entry === undefined) {
      await gateway.settled();
      entry = lookup();
    }
    if (entry === undefined || !sees(view, entry.server)) {
      throw rpcFailure(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    // Task-augmented (2025: the caller's `task`, ignored in 2026-07-28): answered with the task at once, run by the dispatch table.
    if (era === 'legacy' && params.task !== undefined) {
      return {
        task: taskOf(await submitTask(gateway, view, entry, args, undefined, submitterOf(ctx)), gateway.config.dispatch.result_ttl * 1000),
      } as unknown as CallToolResult;
    }
    // [mcp-ext] The Tasks extension: a task when the request declares it and the backend's task_tools name the tool.
    const task = era === 'modern' ? await modernTask(gateway, view, ctx, entry, args) : undefined;
    if (task !== undefined) return task as CallToolResult;
    // [coord-push] Without an agent token, a session is the agent it registers (what is pushed to it).
    if (entry.server === 'coord' && entry.name === 'mux_register') coordPush(gateway)?.noteRegister(view, args.agent_id);
    if (view.modern === true && !speaksModern(gateway, entry.server)) {
      // [mcp-bridge] A 2026-07-28 caller of a 2025-era backend: the backend's sampling or elicitation becomes
      // input_required, and the retry resumes the call (bridged-call.ts). A 2026-07-28 backend's input_required and
      // its retries are relayed verbatim by the router instead (below: `round`).
      const notify = async (method: string, params: Record<string, unknown> | undefined): Promise<void> => {
        if (method !== 'notifications/message' || logged(ctx, params)) await ctx.mcpReq.notify({ method, params });
      };
      const capabilities = server.getClientCapabilities() ?? {};
      try {
        return await bridgedCall(
          gateway,
          view,
          ctx,
          { server: entry.server, tool: entry.name, name, arguments: args },
          { capabilities, notify, onprogress: progress.onprogress },
        );
      } finally {
        await progress.flush();
      }
    }
    try {
      const outcome = await gateway.router.call({
        server: entry.server,
        tool: entry.name,
        arguments: args,
        caller: view.caller,
        signal: ctx.mcpReq.signal,
        onprogress: progress.onprogress,
        servers: view.servers,
        downstream,
        session: view.session,
        round,
      });
      return (relayedTaskResult(gateway, view, entry.server, outcome.result) ?? outcome.result) as CallToolResult;
    } catch (err) {
      // [mcp-bridge] A 2026-07-28 backend's -32021, or its refusal of a requestState, reach a 2026-07-28 caller as it sent them.
      const relayed = relayedError(err, downstream, round);
      if (relayed !== undefined) throw relayed;
      return toolError(toGatewayError(err), gateway.security.secrets());
    } finally {
      await progress.flush();
    }
  };
  // MCP Apps: app-only tools refused where not listed, UI resource URIs of results prefixed on /mcp (apps.ts).
  const appsCall = (request: JSONRPCRequest, ctx: ServerContext): Promise<CallToolResult> =>
    appCall(gateway, view, request.params?.name, server.getClientCapabilities(), () => callTool(request, ctx), GATE_TOOL_NAMES);
  if (era === 'modern') {
    // The 2025 tasks/* are not methods of the 2026-07-28 era; [mcp-ext] those of the Tasks extension are (task-extension.ts).
    if (answers('tools/call')) server.fallbackRequestHandler = async (request, ctx): Promise<Result> => appsCall(request, ctx);
    registerTaskMethods(server, gateway, view, only);
  } else {
    const tasks = taskRequests(gateway.dispatch, gateway.config.dispatch.result_ttl, view.owner ?? null, (srv, r) => appResult(view, srv, r));
    server.fallbackRequestHandler = async (request, ctx): Promise<Result> => {
      if (request.method === 'tools/call') return appsCall(request, ctx);
      const answer = tasks(request, ctx);
      if (answer === undefined) throw rpcFailure(ProtocolErrorCode.MethodNotFound, 'Method not found');
      return answer;
    };
  }

  const proxied = only === undefined || PROXIED.has(only);
  if (proxied && (capabilities.resources !== undefined || capabilities.prompts !== undefined || capabilities.completions !== undefined)) {
    // A 2026-07-28 server has no resources/subscribe: its subscriptions come with subscriptions/listen (mcp-modern.ts).
    const registered =
      era === 'modern' && capabilities.resources !== undefined ? { ...capabilities, resources: { ...capabilities.resources, subscribe: false } } : capabilities;
    registerResourceProxy(server, gateway, view, registered, (ctx) => downstreamOf(ctx, server, view));
  }
  return server;
}

/**
 * Whether a backend is spoken to in the 2026-07-28 era (its verdict of this
 * start, supervisor/era.ts). A requestState in a retry to such a backend is
 * the backend's own and goes to it untouched; to any other, it can only be
 * one the gateway minted (bridged-call.ts), even when the verdict is not
 * known yet (no connection since a restart).
 */
function speaksModern(gateway: SessionServerSources, server: string): boolean {
  return gateway.supervisor.has(server) && gateway.supervisor.get(server).era.verdict?.era === 'modern';
}
