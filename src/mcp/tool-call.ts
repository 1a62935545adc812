import type { CallToolResult, ClientCapabilities, JSONRPCRequest, Progress, ServerContext } from '@modelcontextprotocol/server';
import { LOG_LEVEL_META_KEY, ProtocolErrorCode } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { CatalogTool } from '../catalog/catalog.js';
import { taskOf } from '../dispatch/task-store.js';
import { rpcFailure, toGatewayError } from '../errors.js';
import { type RoundFields, roundOf, traced } from '../pool/backend-era.js';
import type { Downstream } from '../pool/connection.js';
import { relayedError } from '../router/input-rounds.js';
import { appCall } from './apps.js';
import { bridgedCall } from './bridged-call.js';
import { coordPush } from './coord-push.js';
import { callGateTool, GATE_TOOL_NAMES } from './gate-tools.js';
import { toolOf } from './named-view.js';
import { relayedTaskResult } from './relayed-task.js';
import type { SessionServerSources } from './session-server.js';
import { declaresTasks, modernTask, submitTask, submitterOf } from './task-extension.js';
import { toolError } from './tool-error.js';
import { sees, type View } from './view.js';

/*
 * The gateway's answer to an agent's tools/call, for one session server
 * (session-server.ts registers it as the SDK's fallback handler) and for the
 * lean /mcp front path (src/http/mcp-lean.ts), which calls the very same
 * function with a context of its own for the plain calls it takes. Moved
 * here from session-server.ts unchanged ([speed] #30).
 */

const LooseResult = z.looseObject({});

/** The era a server is built for: a 2025 session, or one 2026-07-28 request. */
export type Era = 'legacy' | 'modern';

/** The agent's side of a call: what it declared (initialize, or a 2026-07-28 request's envelope). A session's SDK Server is one. */
export interface CallPeer {
  getClientCapabilities(): ClientCapabilities | undefined;
}

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
const sessionLogLevels = new WeakMap<CallPeer, string>();

/** [mcp-bridge] Records a 2025 session's logging/setLevel. */
export function setSessionLogLevel(peer: CallPeer, level: string): void {
  sessionLogLevels.set(peer, level);
}

/** The agent behind one request: where the backend's requests during that call go. */
export function downstreamOf(ctx: ServerContext, server: CallPeer, view: View): Downstream {
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

/** Answers one tools/call of `view`'s agent (`server`: its side of the call), MCP Apps' rules included. */
export type ToolCallHandler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<CallToolResult>;

/**
 * The tools/call handler of a view. tools/call is answered by the SDK's
 * fallback handler, not a registered one: a registered tools/call would be
 * parsed against the spec schema and its result parsed (deep-copied) again,
 * undoing the router's pass-through. The params are checked by hand below,
 * and the agent's client checks the result.
 */
export function toolCallHandler(gateway: SessionServerSources, view: View, era: Era, server: CallPeer): ToolCallHandler {
  const single = view.single;
  const callTool = async (request: JSONRPCRequest, ctx: ServerContext): Promise<CallToolResult> => {
    const params = callParams(request);
    const { name, arguments: args } = params;
    const progress = progressOf(ctx);
    // [mcp-bridge] A 2026-07-28 retry's fields, for a 2026-07-28 backend (passed on untouched); [speed] made on the
    // branches that pass them on, with the agent's side of the call (not for a call through bridged-call.ts).
    const forwarded = (): { round: RoundFields; downstream: Downstream } => ({ round: roundOf(ctx.mcpReq), downstream: downstreamOf(ctx, server, view) });
    if (single === undefined && GATE_TOOL_NAMES.has(name)) {
      const { round, downstream } = forwarded();
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
    const { round, downstream } = forwarded();
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
  return (request, ctx) => appCall(gateway, view, request.params?.name, server.getClientCapabilities(), () => callTool(request, ctx), GATE_TOOL_NAMES);
}
