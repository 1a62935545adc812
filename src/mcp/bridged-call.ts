import type { CallToolResult, ClientCapabilities, ServerContext } from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import { rpcFailure, toGatewayError } from '../errors.js';
import { traced } from '../pool/backend-era.js';
import type { Downstream } from '../pool/connection.js';
import { requestSpan } from '../telemetry/telemetry.js';
import { type BridgeRound, type BridgeRun, InputBridge, inputBridgeOf } from './input-bridge.js';
import { requestDigest } from './request-state.js';
import type { SessionServerSources } from './session-server.js';
import { toolError } from './tool-error.js';
import type { View } from './view.js';

/** A tool call of a 2026-07-28 caller: the backend tool, and the name and arguments as the caller sent them. */
export interface ModernToolCall {
  server: string;
  tool: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** [speed] First calls of 2026-07-28 callers to 2025-era backends, by whether the caller can be asked (askable) — GET /metrics: stonegate_mcp_bridged_calls_total. */
export const bridgedCalls = { askable: 0, unasked: 0 };

/**
 * Runs a 2026-07-28 caller's tools/call through the gateway's InputBridge
 * (input-bridge.ts): a first call, or — when the SDK lifted a
 * `requestState` off its params — a retry that continues a parked call.
 * `round` says where this request's notifications and progress go.
 */
export async function bridgedCall(
  gateway: Pick<SessionServerSources, 'config' | 'logger' | 'router' | 'security'>,
  view: View,
  ctx: ServerContext,
  call: ModernToolCall,
  round: Omit<BridgeRound, 'signal'>,
): Promise<CallToolResult> {
  const failure = (err: unknown): CallToolResult => toolError(toGatewayError(err), gateway.security.secrets());
  // The SDK lifts the retry fields off the params (ctx.mcpReq); no verify hook is set, so the state is the raw string.
  const requestState = ctx.mcpReq.requestState();
  // [speed] A first call of a caller that cannot be asked runs without the bridge (unaskedCall).
  if (requestState === undefined) {
    if (!askable(round.capabilities)) {
      bridgedCalls.unasked += 1;
      return unaskedCall(gateway, view, ctx, call, round, failure);
    }
    bridgedCalls.askable += 1;
  }
  const bridge = inputBridgeOf(
    gateway.router,
    () => new InputBridge({ dataDir: gateway.config.server.dataDir, ttlSeconds: gateway.config.gateway.input_request_ttl, logger: gateway.logger }),
  );
  const current: BridgeRound = { ...round, signal: ctx.mcpReq.signal };
  const caller = view.owner === undefined ? undefined : `token:${view.owner}`;
  const digest = (): string => requestDigest('tools/call', view.single ?? '', call.name, call.arguments);
  if (requestState !== undefined) {
    const retry = { requestState, inputResponses: ctx.mcpReq.inputResponses, dropped: ctx.mcpReq.droppedInputResponseKeys };
    return (await bridge.resume(caller, digest(), retry, current, failure)) as CallToolResult;
  }
  // [otel] The call runs under the bridge's own signal, so its span's parent is named here: the first request's MCP span.
  const parent = requestSpan(ctx.mcpReq.signal);
  const run: BridgeRun = async (downstream, signal, onprogress) => {
    // [mcp-ext] The first request's trace context goes to the backend with the call.
    return (await gateway.router.call({ ...routed(view, call), signal, parent, onprogress, downstream: traced(ctx, downstream) })).result;
  };
  return (await bridge.start(caller, digest, current, run, failure)) as CallToolResult;
}

/** The router's call of a 2026-07-28 caller's tools/call: its backend tool and arguments, and the view's caller, backends and session. */
function routed(
  view: View,
  call: ModernToolCall,
): { server: string; tool: string; arguments: Record<string, unknown> } & Pick<View, 'caller' | 'servers' | 'session'> {
  return { server: call.server, tool: call.tool, arguments: call.arguments, caller: view.caller, servers: view.servers, session: view.session };
}

/**
 * [speed] Whether a 2026-07-28 caller of these capabilities can be asked
 * for input during a call to a 2025-era backend. Such a backend asks only
 * with sampling/createMessage and elicitation/create (roots/list is the
 * gateway's to answer, from the backend's `roots`: mcp/backend-hooks.ts),
 * and a 2026-07-28 backend whose era is not known yet only with those and
 * roots/list (router/input-rounds.ts answer); each is refused at once to
 * an agent that did not declare its capability (pool/client-requests.ts
 * refusal), before the bridge's downstream is asked. A caller that
 * declared neither can therefore never be answered input_required: its
 * call needs no parking.
 */
export function askable(capabilities: ClientCapabilities): boolean {
  return capabilities.sampling !== undefined || capabilities.elicitation !== undefined;
}

/**
 * [speed] A call of a caller that cannot be asked (askable): what the
 * bridge does for a call that never parks — the router call with a
 * downstream of the round's capabilities, notifications and progress, its
 * failure as a tool error — without the bridge's pending entry, its own
 * AbortController and its wake-up loop. The request's own signal cancels
 * it (and names its span's parent, router/call-trace.ts).
 */
async function unaskedCall(
  gateway: Pick<SessionServerSources, 'router'>,
  view: View,
  ctx: ServerContext,
  call: ModernToolCall,
  round: Omit<BridgeRound, 'signal'>,
  failure: (err: unknown) => CallToolResult,
): Promise<CallToolResult> {
  const downstream: Downstream = {
    capabilities: () => round.capabilities,
    // Never reached: refusal() answers the backend first (askable).
    request: (method) => Promise.reject(rpcFailure(ProtocolErrorCode.MethodNotFound, `stonegate refused ${method}: the caller declared no capability for it`)),
    notify: (method, params) => round.notify(method, params).catch(() => undefined),
  };
  try {
    const outcome = await gateway.router.call({
      ...routed(view, call),
      signal: ctx.mcpReq.signal,
      onprogress: round.onprogress,
      downstream: traced(ctx, downstream),
    });
    return outcome.result as CallToolResult;
  } catch (err) {
    return failure(err);
  }
}
