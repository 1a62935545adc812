import type { ClientCapabilities } from '@modelcontextprotocol/client';
import { getSupportedElicitationModes, ProtocolErrorCode } from '@modelcontextprotocol/client';

/**
 * The client capabilities stonegate declares to every backend: the union
 * of what it can route to an agent, so that a backend which registers
 * tools by its client's capabilities (server-everything's sampling,
 * elicitation, URL elicitation and async sampling/elicitation tools) lists
 * them all on the shared connections. Whether the agent of a given call
 * has them is checked per request (refusal below).
 *
 * - sampling, with tools: forwarded to an agent that declared them.
 * - elicitation, form and URL mode: forwarded to an agent that declared the mode.
 * - roots: answered by the gateway from the backend's `roots` config.
 * - tasks for sampling/createMessage and elicitation/create: the request
 *   is forwarded without its `task` and answered with the agent's result
 *   directly, no task: the gateway has no task store to poll for them, and
 *   server-everything's async tools (like any requestor that sends
 *   `task` to a receiver which may answer at once) take either.
 */
export const BACKEND_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: { tools: {} },
  elicitation: { form: {}, url: {} },
  roots: { listChanged: false },
  tasks: { requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
};

/** Why an agent cannot take a backend's request: the JSON-RPC error to answer the backend with. */
export interface Refusal {
  code: number;
  message: string;
}

/** The capability a request needs, named as in the spec, or undefined when the agent has it. */
function missing(method: string, params: Record<string, unknown> | undefined, capabilities: ClientCapabilities): string | undefined {
  if (method === 'sampling/createMessage') {
    if (capabilities.sampling === undefined) return 'sampling';
    if ((params?.tools !== undefined || params?.toolChoice !== undefined) && capabilities.sampling.tools === undefined) return 'sampling.tools';
    return undefined;
  }
  if (method === 'elicitation/create') {
    if (capabilities.elicitation === undefined) return 'elicitation';
    const { supportsFormMode, supportsUrlMode } = getSupportedElicitationModes(capabilities.elicitation);
    if (params?.mode === 'url') return supportsUrlMode ? undefined : 'elicitation.url';
    return supportsFormMode ? undefined : 'elicitation.form';
  }
  return undefined;
}

/**
 * Refuses at once a backend's server-to-client request that the calling
 * agent cannot answer, instead of sending it where no answer will come
 * (the call would wait its whole timeout, and that timeout would count
 * against the backend's circuit for every agent). `capabilities` is what
 * the agent declared at initialize, undefined when its connection takes no
 * requests at all (a stateless POST); `modern` for a 2026-07-28 caller
 * that cannot be asked (gate_call), which is always refused. Codes as the SDK client's own: no
 * capability at all is "method not found", a missing mode "invalid params".
 */
export function refusal(
  method: string,
  params: Record<string, unknown> | undefined,
  capabilities: ClientCapabilities | undefined,
  modern = false,
): Refusal | undefined {
  if (modern) {
    // Whatever the caller declared: the 2026-07-28 era has no server-to-client requests; a direct tools/call relays them as input_required (input-bridge.ts), gate_call does not.
    return {
      code: ProtocolErrorCode.MethodNotFound,
      message: `stonegate refused ${method}: the agent that made this call speaks MCP 2026-07-28, where a server asks its client through input_required results, not requests; stonegate relays them only for a direct tools/call of the tool (not through gate_call), so call the tool by its name, or from a 2025-era MCP session (initialize), to answer it`,
    };
  }
  if (capabilities === undefined) {
    return {
      code: ProtocolErrorCode.MethodNotFound,
      message: `stonegate refused ${method}: the agent that made this call has no MCP session that can take requests (a stateless POST), so it cannot answer; the agent needs a session-based connection to /mcp`,
    };
  }
  const capability = missing(method, params, capabilities);
  if (capability === undefined) return undefined;
  return {
    code: capability.includes('.') ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.MethodNotFound,
    message: `stonegate refused ${method}: the agent that made this call did not declare the '${capability}' client capability, so it cannot answer; call this tool from an MCP client that supports it`,
  };
}
