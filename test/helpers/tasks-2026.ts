import { expect } from 'vitest';
import { eventually } from './harness.js';

/*
 * Raw 2026-07-28 requests for the Tasks-extension tests (issue #25): the
 * standard headers, Mcp-Name from the body, an envelope that declares the
 * extension (or not), and the task-polling and answer checks they share.
 */

export const V = '2026-07-28';
export const EXT = 'io.modelcontextprotocol/tasks';
export const ALICE = 'tasks-alice-token-3f9a1c';
export const BOB = 'tasks-bob-token-8e2d77';
/** The two tokens, as `[[auth.tokens]]` entries reading TASKS_ALICE and TASKS_BOB. */
export const TOKENS_CONFIG = `
[auth]
[[auth.tokens]]
name = "alice"
token = "\${TASKS_ALICE}"

[[auth.tokens]]
name = "bob"
token = "\${TASKS_BOB}"
`;
export const TOKENS_ENV = { TASKS_ALICE: ALICE, TASKS_BOB: BOB };

export interface Answer {
  status: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

export interface RpcOptions {
  token?: string;
  declares?: boolean;
  path?: string;
  others?: string[];
  caps?: Record<string, unknown>;
}

export const envelope = (declares: boolean, others: string[] = [], caps: Record<string, unknown> = {}): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientInfo': { name: 'tasks-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {
    ...caps,
    extensions: Object.fromEntries([...(declares ? [EXT] : []), ...others].map((id) => [id, {}])),
  },
});

/** The request helpers of one gateway (its URL read when a request goes). */
export function tasksRpc(url: () => string) {
  /** One 2026-07-28 request, raw; as ALICE and declaring the extension unless told otherwise. */
  async function rpc(method: string, params: Record<string, unknown>, options: RpcOptions = {}): Promise<Answer> {
    const name = params.name ?? params.taskId;
    const response = await fetch(`${url()}${options.path ?? '/mcp'}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.token ?? ALICE}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': V,
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: envelope(options.declares ?? true, options.others, options.caps) } }),
    });
    const body = (await response.json()) as Omit<Answer, 'status'>;
    return { status: response.status, ...body };
  }
  /** The demo backend's sleep (as `demo__sleep` on /mcp, `sleep` on a per-server path). */
  const sleep = (ms: number, options: RpcOptions = {}) =>
    rpc('tools/call', { name: options.path === undefined ? 'demo__sleep' : 'sleep', arguments: { ms } }, options);
  /** Polls tasks/get (as a client does) until the task is terminal. */
  const settled = (taskId: string, token = ALICE): Promise<Record<string, unknown>> =>
    eventually(async () => {
      const answer = await rpc('tasks/get', { taskId }, { token });
      const status = answer.result?.status;
      return status === 'completed' || status === 'failed' || status === 'cancelled' ? answer.result : undefined;
    }, 20_000);
  return { rpc, sleep, settled };
}

/** The ack of tasks/update and tasks/cancel: resultType "complete" and nothing of the task. */
export function expectAck(answer: Answer): void {
  expect(answer.error).toBeUndefined();
  expect(answer.result?.resultType).toBe('complete');
  for (const field of ['taskId', 'status', 'result', 'error']) expect(answer.result).not.toHaveProperty(field);
}

/** Another caller's, an unknown or a tampered task id: -32602 "Task not found", nothing else. */
export function expectNotFound(answer: Answer): void {
  expect(answer.error?.code).toBe(-32602);
  expect(answer.error?.message).toBe('Failed to retrieve task: Task not found');
  expect(answer.error?.data).toBeUndefined();
  expect(answer.result).toBeUndefined();
}
