import type { CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import { toGatewayError } from '../errors.js';
import { traced } from '../pool/backend-era.js';
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
  const bridge = inputBridgeOf(
    gateway.router,
    () => new InputBridge({ dataDir: gateway.config.server.dataDir, ttlSeconds: gateway.config.gateway.input_request_ttl, logger: gateway.logger }),
  );
  const current: BridgeRound = { ...round, signal: ctx.mcpReq.signal };
  const caller = view.owner === undefined ? undefined : `token:${view.owner}`;
  const digest = (): string => requestDigest('tools/call', view.single ?? '', call.name, call.arguments);
  const failure = (err: unknown): CallToolResult => toolError(toGatewayError(err), gateway.security.secrets());
  // The SDK lifts the retry fields off the params (ctx.mcpReq); no verify hook is set, so the state is the raw string.
  const requestState = ctx.mcpReq.requestState();
  if (requestState !== undefined) {
    const retry = { requestState, inputResponses: ctx.mcpReq.inputResponses, dropped: ctx.mcpReq.droppedInputResponseKeys };
    return (await bridge.resume(caller, digest(), retry, current, failure)) as CallToolResult;
  }
  // [otel] The call runs under the bridge's own signal, so its span's parent is named here: the first request's MCP span.
  const parent = requestSpan(ctx.mcpReq.signal);
  const run: BridgeRun = async (downstream, signal, onprogress) => {
    const request = { server: call.server, tool: call.tool, arguments: call.arguments, caller: view.caller, servers: view.servers, session: view.session };
    // [mcp-ext] The first request's trace context goes to the backend with the call.
    return (await gateway.router.call({ ...request, signal, parent, onprogress, downstream: traced(ctx, downstream) })).result;
  };
  return (await bridge.start(caller, digest, current, run, failure)) as CallToolResult;
}
