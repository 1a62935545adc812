import { isInputRequiredResult, ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/client';
import { GatewayError, rpcFailure } from '../errors.js';
import type { RoundFields } from '../pool/backend-era.js';
import { refusal } from '../pool/client-requests.js';
import type { Downstream } from '../pool/connection.js';

/**
 * How many `input_required` results of a 2026-07-28 backend the gateway
 * answers within one call of a caller that cannot take them itself (a 2025
 * session, REST): the ninth is an error. A backend that keeps asking is
 * looping, and each round holds the agent's user.
 */
export const MAX_INPUT_ROUNDS = 8;

/** What one round of a call needs to know beyond the request. */
export interface RoundsContext {
  /** The backend, for errors. */
  server: string;
  /** What was called (a tool, prompt or resource), for errors. */
  what: string;
  /** The calling agent; undefined for REST and async calls. */
  downstream: Downstream | undefined;
  /** The backend's `roots` config: the answer to a roots/list input request. */
  roots: () => readonly string[];
}

/** A root as the gateway answers roots/list for a backend (its `roots` config). */
export function rootsAnswer(roots: readonly string[]): { roots: { uri: string; name: string }[] } {
  return { roots: roots.map((uri) => ({ uri, name: uri.slice(uri.lastIndexOf('/') + 1) || uri })) };
}

/**
 * Runs one call to a backend as its caller's era needs it (the
 * multi-round-trip pattern of 2026-07-28, docs/mcp.md "Protocol eras"):
 *
 * - a result that is not `input_required` is the answer;
 * - a 2026-07-28 caller gets the backend's `input_required` verbatim
 *   (`inputRequests`, `requestState` untouched) and retries itself; its
 *   retry's fields (`first`) reach the backend untouched — the gateway
 *   keeps nothing between rounds;
 * - for a 2025 session each input request becomes a request on the agent's
 *   session (elicitation/create, sampling/createMessage) or is answered
 *   from the backend's `roots` config (roots/list), and the backend is
 *   asked again with the answers and its `requestState`, at most
 *   MAX_INPUT_ROUNDS times;
 * - a caller with no agent to ask (REST, async, a stateless 2025 POST) gets
 *   the refusal it gets for a 2025 backend's request.
 *
 * The backend was told the caller's real capabilities (pool/backend-era.ts),
 * so it refuses (-32021) what the agent cannot answer; refusal() here is a
 * second check, for a backend that asks anyway.
 */
export async function inputRounds<R extends object>(context: RoundsContext, first: RoundFields, send: (round: RoundFields) => Promise<R>): Promise<R> {
  const { downstream } = context;
  let fields = first;
  for (let round = 0; ; round++) {
    const result = await send(fields);
    if (!isInputRequiredResult(result) || downstream?.modern === true) return result;
    if (round >= MAX_INPUT_ROUNDS) {
      throw new GatewayError(
        'BACKEND_ERROR',
        `Backend '${context.server}' still asked for input after ${MAX_INPUT_ROUNDS} rounds of ${context.what}; stonegate stops there (a backend that keeps asking is looping)`,
        { details: { rounds: MAX_INPUT_ROUNDS } },
      );
    }
    // The backend asked its questions together: they are put to the agent together (a task's caller may answer them one by one).
    const asked = Object.entries(result.inputRequests ?? {});
    const answers = await Promise.all(asked.map(([, request]) => answer(context, request.method, request.params as Record<string, unknown> | undefined)));
    const inputResponses = Object.fromEntries(asked.map(([key], i) => [key, answers[i]]));
    fields = { inputResponses, ...(result.requestState === undefined ? {} : { requestState: result.requestState }) };
  }
}

/** One input request of a backend, answered for a caller that is not 2026-07-28 (also a backend task's, backend-task.ts). */
export async function answer(context: RoundsContext, method: string, params: Record<string, unknown> | undefined): Promise<unknown> {
  if (method === 'roots/list') return rootsAnswer(context.roots());
  const { downstream } = context;
  if (method !== 'elicitation/create' && method !== 'sampling/createMessage') {
    throw new GatewayError(
      'BACKEND_ERROR',
      `Backend '${context.server}' asked for '${method}' during ${context.what}, which is not an input request of MCP 2026-07-28`,
    );
  }
  if (downstream === undefined) {
    throw new GatewayError(
      'BACKEND_ERROR',
      `Backend '${context.server}' asked for ${method} during ${context.what}: stonegate refused ${method}: the call was made without an MCP session (REST POST /call or an async call), so there is no agent to ask`,
    );
  }
  const refused = refusal(method, params, downstream.capabilities());
  if (refused !== undefined) {
    throw new GatewayError('BACKEND_ERROR', `Backend '${context.server}' asked for ${method} during ${context.what}: ${refused.message}`);
  }
  return downstream.request(method, params);
}

/**
 * The errors of a 2026-07-28 backend that a 2026-07-28 caller gets as the
 * backend sent them (code, message, data), not as an isError tool result:
 * they are the multi-round-trip protocol's own answers, which the caller's
 * client acts on — a missing client capability (-32021, with
 * `data.requiredCapabilities`), and invalid params on a retry that carried
 * a `requestState` (the backend's refusal of a tampered or expired state).
 * Undefined for anything else, and for other callers.
 */
export function relayedError(err: unknown, downstream: Downstream | undefined, round: RoundFields): Error | undefined {
  if (downstream?.modern !== true) return undefined;
  const cause = err instanceof GatewayError ? err.cause : undefined;
  if (!(cause instanceof ProtocolError)) return undefined;
  const relayed =
    cause.code === ProtocolErrorCode.MissingRequiredClientCapability || (cause.code === ProtocolErrorCode.InvalidParams && round.requestState !== undefined);
  if (!relayed) return undefined;
  return rpcFailure(cause.code, cause.message.replace(/^MCP error -?\d+: /, ''), cause.data);
}
