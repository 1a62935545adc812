import { Client, type JSONRPCResponse } from '@modelcontextprotocol/client';

/** Where a 2026-07-28 backend's `resultType: "task"` answer is kept in the result the SDK hands over (router/backend-task.ts). */
export const BACKEND_TASK_META_KEY = 'stonegate/backend-task';

/**
 * [mcp-ext] The gateway's MCP client toward a backend. The SDK client
 * refuses a 2026-07-28 result of `resultType: "task"` (the Tasks
 * extension's CreateTaskResult) as an unsupported result type, losing the
 * task id; the gateway asks for a backend task only when the backend
 * requires one (router/backend-task.ts), so such an answer is handed over
 * as a complete result carrying the task under BACKEND_TASK_META_KEY. The
 * override is the SDK's documented hook: what it does not own goes to
 * `super._onresponse`.
 */
export class BackendClient extends Client {
  protected override _onresponse(response: JSONRPCResponse): void {
    const result = 'result' in response ? (response.result as Record<string, unknown>) : undefined;
    if (result?.resultType !== 'task') return super._onresponse(response);
    super._onresponse({ ...response, result: { resultType: 'complete', content: [], _meta: { [BACKEND_TASK_META_KEY]: result } } } as JSONRPCResponse);
  }
}

/**
 * [speed] A 2025-era result as the SDK client hands it over (BackendClient
 * above, then the 2025 codec, which drops any `resultType`), for the lean
 * path that reads responses without the SDK (supervisor/lean-calls.ts).
 */
export function handedOver(result: Record<string, unknown>): Record<string, unknown> {
  if (!('resultType' in result)) return result;
  if (result.resultType === 'task') return { content: [], _meta: { [BACKEND_TASK_META_KEY]: result } };
  const { resultType: _type, ...rest } = result;
  return rest;
}
