import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { callToolStream, type TaskMessage } from '../helpers/mcp-tasks.js';

/*
 * Issue #25 item 1: the gateway's async dispatch served as the Tasks
 * extension (io.modelcontextprotocol/tasks) to 2026-07-28 clients, from the
 * same durable table as gate_call_async and the 2025-11-25 tasks: a long
 * call of a `task_tools` tool becomes a task for a client that declares the
 * extension, tasks/get / tasks/update / tasks/cancel answer its owner only,
 * and a finished task reads the same after a gateway restart. A 2025 client
 * keeps its tasks (the `task` parameter, tasks/result), in the same table.
 */

const ALICE = 'tasks-alice-token-3f9a1c';
const BOB = 'tasks-bob-token-8e2d77';
const V = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';

const CONFIG = `
${demoBackend()}
task_tools = ["sleep"]

${demoBackend('plain')}

${demoBackend('strict')}
task_required = ["sleep"]

[[backends]]
name = "modern"
command = "node"
args = [${q(fixture('conformance-modern-server'))}]
protocol = "2026-07-28"
task_tools = ["confirm_delete", "multi_input"]

[[backends]]
name = "legacy"
command = "node"
args = [${q(fixture('conformance-server'))}]
task_tools = ["test_elicitation"]

# A 2026-07-28 backend with its own Tasks extension (test/fixtures/modern-task-server.ts).
[[backends]]
name = "survey"
command = "node"
args = [${q(fixture('modern-task-server'))}]
protocol = "2026-07-28"

[auth]
[[auth.tokens]]
name = "alice"
token = "\${TASKS_ALICE}"

[[auth.tokens]]
name = "bob"
token = "\${TASKS_BOB}"
`;
const ENV = { TASKS_ALICE: ALICE, TASKS_BOB: BOB };

let gw: RunningGateway;

async function start(dir?: string): Promise<void> {
  gw = await startGateway(CONFIG, { env: ENV, keep: true, ...(dir === undefined ? {} : { dir }) });
  for (const name of ['demo', 'plain', 'strict', 'modern', 'legacy', 'survey']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
}

beforeAll(() => start());
afterAll(stopAll);

interface Answer {
  status: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

const UI = 'io.modelcontextprotocol/ui';

const envelope = (declares: boolean, others: string[] = [], caps: Record<string, unknown> = {}): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientInfo': { name: 'tasks-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {
    ...caps,
    extensions: Object.fromEntries([...(declares ? [EXT] : []), ...others].map((id) => [id, {}])),
  },
});

/** One 2026-07-28 request, raw: the standard headers, Mcp-Name from the body. */
async function rpc(
  method: string,
  params: Record<string, unknown>,
  options: { token?: string; declares?: boolean; path?: string; others?: string[]; caps?: Record<string, unknown> } = {},
): Promise<Answer> {
  const name = params.name ?? params.taskId;
  const response = await fetch(`${gw.url}${options.path ?? '/mcp'}`, {
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

const sleep = (ms: number, options: { token?: string; declares?: boolean; path?: string } = {}) =>
  rpc('tools/call', { name: options.path === undefined ? 'demo__sleep' : 'sleep', arguments: { ms } }, options);

/** Polls tasks/get (at the task's pollIntervalMs, as a client does) until the task is terminal. */
function settled(taskId: string, token = ALICE): Promise<Record<string, unknown>> {
  return eventually(async () => {
    const answer = await rpc('tasks/get', { taskId }, { token });
    const status = answer.result?.status;
    return status === 'completed' || status === 'failed' || status === 'cancelled' ? answer.result : undefined;
  }, 20_000);
}

/** The ack of tasks/update and tasks/cancel: resultType "complete" and nothing of the task. */
function expectAck(answer: Answer): void {
  expect(answer.error).toBeUndefined();
  expect(answer.result?.resultType).toBe('complete');
  for (const field of ['taskId', 'status', 'result', 'error']) expect(answer.result).not.toHaveProperty(field);
}

function expectNotFound(answer: Answer): void {
  expect(answer.error?.code).toBe(-32602);
  expect(answer.error?.message).toBe('Failed to retrieve task: Task not found');
  expect(answer.error?.data).toBeUndefined();
  expect(answer.result).toBeUndefined();
}

/** A 2025-11-25 client (the SDK's default era) with a token. */
async function legacyClient(token = ALICE): Promise<Client> {
  const client = new Client({ name: 'tasks-legacy', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

async function drain(stream: AsyncGenerator<TaskMessage>): Promise<TaskMessage[]> {
  const messages: TaskMessage[] = [];
  for await (const message of stream) messages.push(message);
  return messages;
}

describe('issue 25.1: async dispatch as the Tasks extension', () => {
  it('server/discover advertises the extension where a backend the view shows has task_tools', async () => {
    const discover = async (path: string) =>
      ((await rpc('server/discover', {}, { path })).result?.capabilities as { extensions?: Record<string, unknown>; tasks?: unknown }) ?? {};
    expect((await discover('/mcp')).extensions?.[EXT]).toEqual({});
    expect((await discover('/mcp/demo')).extensions?.[EXT]).toEqual({});
    expect((await discover('/mcp/plain')).extensions?.[EXT]).toBeUndefined();
    expect((await discover('/mcp?servers=plain')).extensions?.[EXT]).toBeUndefined();
    // Never the 2025 capability in this era.
    expect((await discover('/mcp')).tasks).toBeUndefined();
  });

  it('a long call from a client that declares the extension is a task: resultType "task", then tasks/get inlines the result', async () => {
    const created = await sleep(300);
    expect(created.error).toBeUndefined();
    const task = created.result!;
    expect(task.resultType).toBe('task');
    expect(task).not.toHaveProperty('task');
    expect(task).not.toHaveProperty('result');
    expect(task.taskId).toMatch(/^call_[A-Za-z0-9_-]{22}$/);
    expect(task.status).toBe('working');
    expect(typeof task.ttlMs).toBe('number');
    expect(typeof task.pollIntervalMs).toBe('number');
    expect(Number.isNaN(Date.parse(String(task.createdAt)))).toBe(false);
    const done = await settled(String(task.taskId));
    expect(done).toMatchObject({ resultType: 'complete', taskId: task.taskId, status: 'completed', result: { content: [{ type: 'text' }] } });
    expect(JSON.stringify(done.result)).toContain('slept 300 ms');
    expect(done).not.toHaveProperty('error');
    // The same on the per-server endpoint, under the tool's own name.
    const direct = await sleep(0, { path: '/mcp/demo' });
    expect(direct.result?.resultType).toBe('task');
    expect((await settled(String(direct.result?.taskId))).status).toBe('completed');
  });

  it("a working task's statusMessage carries the call's latest progress", async () => {
    const created = await sleep(60_000);
    const taskId = String(created.result?.taskId);
    const working = await eventually(async () => {
      const answer = await rpc('tasks/get', { taskId });
      return answer.result?.statusMessage === undefined ? undefined : answer.result;
    });
    expect(working.status).toBe('working');
    expect(working.statusMessage).toMatch(/^progress \d+\/60000$/);
    expectAck(await rpc('tasks/cancel', { taskId }));
  });

  it('no task without the declaration, for a tool task_tools leave out, or for a 2025-style `task` parameter', async () => {
    const plain = await sleep(0, { declares: false });
    expect(plain.result?.resultType).toBe('complete');
    expect(plain.result).not.toHaveProperty('taskId');
    expect(JSON.stringify(plain.result?.content)).toContain('slept 0 ms');
    const echo = await rpc('tools/call', { name: 'demo__echo', arguments: { text: 'now' } });
    expect(echo.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'now' }] });
    const legacyFlag = await rpc('tools/call', { name: 'demo__echo', arguments: { text: 'flag' }, task: { ttl: 1000 } });
    expect(legacyFlag.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'flag' }] });
    expect(legacyFlag.result).not.toHaveProperty('task');
  });

  it("another token's tasks/get, tasks/update and tasks/cancel are answered not found; undeclared requests -32021", async () => {
    const created = await sleep(200);
    const taskId = String(created.result?.taskId);
    expectNotFound(await rpc('tasks/get', { taskId }, { token: BOB }));
    expectNotFound(await rpc('tasks/update', { taskId, inputResponses: {} }, { token: BOB }));
    expectNotFound(await rpc('tasks/cancel', { taskId }, { token: BOB }));
    expectNotFound(await rpc('tasks/get', { taskId: 'call_AAAAAAAAAAAAAAAAAAAAAA' }));
    const undeclared = await rpc('tasks/get', { taskId }, { declares: false });
    expect(undeclared.error?.code).toBe(-32021);
    expect(undeclared.error?.data).toEqual({ requiredCapabilities: { extensions: { [EXT]: {} } } });
    // Bob's attempts changed nothing: the owner's task completes.
    expect((await settled(taskId)).status).toBe('completed');
    expectAck(await rpc('tasks/update', { taskId, inputResponses: { nothing: { action: 'decline' } } }));
  });

  it('tasks/cancel acknowledges; the task settles cancelled; a second cancel is the same ack', async () => {
    const created = await sleep(60_000);
    const taskId = String(created.result?.taskId);
    expectAck(await rpc('tasks/cancel', { taskId }));
    expect((await settled(taskId)).status).toBe('cancelled');
    expectAck(await rpc('tasks/cancel', { taskId }));
  });

  it('gate_call_async, gate_poll and tasks/get read one table', async () => {
    const submitted = await rpc('tools/call', { name: 'gate_call_async', arguments: { server: 'demo', tool: 'echo', arguments: { text: 'async' } } });
    const callId = String((submitted.result?.structuredContent as { call_id?: string } | undefined)?.call_id);
    expect((await settled(callId)).result).toMatchObject({ content: [{ type: 'text', text: 'async' }] });
    const task = await sleep(0);
    const taskId = String(task.result?.taskId);
    await settled(taskId);
    const polled = await rpc('tools/call', { name: 'gate_poll', arguments: { call_id: taskId } });
    expect(JSON.stringify(polled.result)).toContain('slept 0 ms');
  });

  it("a backend is not told of the client's Tasks extension (its tasks could not be polled here); other extensions pass", async () => {
    const answer = await rpc('tools/call', { name: 'declared_extensions', arguments: {} }, { path: '/mcp/modern', others: [UI] });
    expect(answer.result?.content).toEqual([{ type: 'text', text: JSON.stringify([UI]) }]);
  });

  it('subscriptions/listen: taskIds without the extension are -32021; with it, the stream is acknowledged without taskIds (none agreed)', async () => {
    const taskId = String((await sleep(0)).result?.taskId);
    const listen = (declares: boolean, signal?: AbortSignal) =>
      fetch(`${gw.url}/mcp`, {
        method: 'POST',
        signal,
        headers: {
          authorization: `Bearer ${ALICE}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': V,
          'mcp-method': 'subscriptions/listen',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'subscriptions/listen',
          params: { notifications: { toolsListChanged: true, taskIds: [taskId] }, _meta: envelope(declares) },
        }),
      });
    const refused = await listen(false);
    const body = (await refused.json()) as { id: number; error?: { code: number; data?: unknown } };
    expect(body.id).toBe(7);
    expect(body.error?.code).toBe(-32021);
    expect(body.error?.data).toEqual({ requiredCapabilities: { extensions: { [EXT]: {} } } });
    const stop = new AbortController();
    const stream = await listen(true, stop.signal);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('notifications/subscriptions/acknowledged')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    stop.abort();
    const line = text.split('\n').find((l) => l.startsWith('data: ') && l.includes('notifications/subscriptions/acknowledged'));
    const ack = JSON.parse(line?.slice('data: '.length) ?? '{}') as { params?: { notifications?: Record<string, unknown> } };
    expect(ack.params?.notifications).toEqual({ toolsListChanged: true });
  });

  describe('input inside a task: input_required with inputRequests, answered by tasks/update', () => {
    const ELICITS = { caps: { elicitation: { form: {} } } };
    /** Polls tasks/get until the task waits for `keys` answers; returns its inputRequests. */
    const waiting = (taskId: string, keys: number) =>
      eventually(async () => {
        const task = (await rpc('tasks/get', { taskId })).result;
        const asked = task?.inputRequests as Record<string, { method: string }> | undefined;
        return task?.status === 'input_required' && Object.keys(asked ?? {}).length === keys ? asked : undefined;
      }, 20_000);
    const accept = (content: Record<string, unknown>) => ({ action: 'accept', content });

    it("a 2026-07-28 backend's question waits in the task for its owner's answer", async () => {
      const created = await rpc('tools/call', { name: 'confirm_delete', arguments: { filename: 'a.txt' } }, { path: '/mcp/modern', ...ELICITS });
      const taskId = String(created.result?.taskId);
      expect(created.result).not.toHaveProperty('inputRequests');
      const asked = await waiting(taskId, 1);
      const [key] = Object.keys(asked);
      expect(asked[key!]?.method).toBe('elicitation/create');
      expectNotFound(await rpc('tasks/update', { taskId, inputResponses: { [key!]: accept({ confirm: true }) } }, { token: BOB }));
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { 'never-minted': accept({}) } }));
      expect((await rpc('tasks/get', { taskId })).result?.status).toBe('input_required');
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { [key!]: accept({ confirm: true }) } }));
      expect(JSON.stringify((await settled(taskId)).result)).toContain('deleted a.txt');
    });

    it('two questions at once may be answered one by one; the task waits until both are', async () => {
      const taskId = String((await rpc('tools/call', { name: 'multi_input', arguments: {} }, { path: '/mcp/modern', ...ELICITS })).result?.taskId);
      const [first, second] = Object.keys(await waiting(taskId, 2));
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { [first!]: accept({ name: 'one', confirm: true }) } }));
      expect(Object.keys(await waiting(taskId, 1))).toEqual([second]);
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { [second!]: accept({ name: 'two', confirm: true }) } }));
      expect(JSON.stringify((await settled(taskId)).result)).toMatch(/got (one and two|two and one)/);
    });

    it("a 2025 backend's elicitation request waits in the task the same way", async () => {
      const taskId = String((await rpc('tools/call', { name: 'legacy__test_elicitation', arguments: { message: 'name?' } }, ELICITS)).result?.taskId);
      const asked = await waiting(taskId, 1);
      const [key] = Object.keys(asked);
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { [key!]: accept({ username: 'ada', email: 'ada@example.com' }) } }));
      const done = await settled(taskId);
      expect(done.status).toBe('completed');
      expect(JSON.stringify(done.result)).toContain('ada');
    });

    it('a caller that did not declare elicitation is not asked: the task fails with the refusal', async () => {
      const taskId = String((await rpc('tools/call', { name: 'confirm_delete', arguments: { filename: 'b.txt' } }, { path: '/mcp/modern' })).result?.taskId);
      const done = await settled(taskId);
      expect(done.status).toBe('failed');
      expect(done).not.toHaveProperty('inputRequests');
    });
  });

  it('task_required: a 2026-07-28 call that does not declare the extension is refused -32021; REST still runs it', async () => {
    const refused = await rpc('tools/call', { name: 'strict__sleep', arguments: { ms: 1 } }, { declares: false });
    expect(refused.error?.code).toBe(-32021);
    expect(refused.error?.data).toEqual({ requiredCapabilities: { extensions: { [EXT]: {} } } });
    const task = await rpc('tools/call', { name: 'strict__sleep', arguments: { ms: 1 } });
    expect((await settled(String(task.result?.taskId))).status).toBe('completed');
    const plain = await fetch(`${gw.url}/call`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'strict', tool: 'sleep', arguments: { ms: 1 } }),
    });
    expect(plain.status).toBe(200);
  });

  it("a backend's own task is handed to a caller that declared the extension: input_required first, then the task under a sealed id", async () => {
    const caps = { elicitation: { form: {} } };
    const first = await rpc('tools/call', { name: 'survey__test_tool_with_task', arguments: {} }, { caps });
    expect(first.result).toMatchObject({ resultType: 'input_required', inputRequests: { user_name: { method: 'elicitation/create' } } });
    expect(first.result).not.toHaveProperty('taskId');
    const retry = { inputResponses: { user_name: { action: 'accept', content: { name: 'Alice' } } }, requestState: first.result?.requestState };
    const second = await rpc('tools/call', { name: 'survey__test_tool_with_task', arguments: {}, ...retry }, { caps });
    expect(second.result).toMatchObject({ resultType: 'task', status: 'working' });
    for (const field of ['requestState', 'inputRequests']) expect(second.result).not.toHaveProperty(field);
    expect(JSON.stringify(second.result?._meta ?? {})).not.toContain('stonegate/backend-task');
    const taskId = String(second.result?.taskId);
    expect(taskId).toMatch(/^btask1\./);
    expect(taskId).not.toContain('t-');
    expectNotFound(await rpc('tasks/get', { taskId }, { token: BOB }));
    expectNotFound(await rpc('tasks/get', { taskId: `${taskId.slice(0, -2)}AA` }));
    const done = await settled(taskId);
    expect(done).toMatchObject({ taskId, status: 'completed', result: { content: [{ type: 'text', text: 'survey of Alice: 3 stages' }] } });
    // A caller that did not declare the extension gets the result itself: the gateway polls the backend's task.
    const plain = await rpc('tools/call', { name: 'survey__survey', arguments: { topic: 'ferns' } }, { declares: false });
    expect(plain.result?.content).toEqual([{ type: 'text', text: 'survey of ferns: 3 stages' }]);
  });

  it('tasks/result and tasks/list are not methods of the era', async () => {
    expect((await rpc('tasks/list', {})).error?.code).toBe(-32601);
    const created = await sleep(0);
    expect((await rpc('tasks/result', { taskId: String(created.result?.taskId) })).error?.code).toBe(-32601);
  });

  it('a 2025 client still runs a long call as a task, in the same table: the owner reads it in either era', async () => {
    const client = await legacyClient();
    try {
      const messages = await drain(callToolStream(client, { name: 'demo__sleep', arguments: { ms: 200 } }, { ttl: 60_000 }));
      const created = messages.find((m) => m.type === 'taskCreated');
      const result = messages.at(-1);
      expect(result?.type).toBe('result');
      expect(JSON.stringify(result)).toContain('slept 200 ms');
      const taskId = created?.type === 'taskCreated' ? created.task.taskId : '';
      // task_tools change nothing for a 2025 client: without its `task` parameter the call answers as always.
      const plain = await client.callTool({ name: 'demo__sleep', arguments: { ms: 0 } });
      expect(plain.content).toEqual([{ type: 'text', text: 'slept 0 ms' }]);
      const modern = await rpc('tasks/get', { taskId });
      expect(modern.result).toMatchObject({ taskId, status: 'completed' });
      expectNotFound(await rpc('tasks/get', { taskId }, { token: BOB }));
    } finally {
      await client.close();
    }
  });

  it('survives a gateway restart: a finished task reads the same, one cut off reads failed (INTERRUPTED); still only for its owner', async () => {
    const finished = await sleep(0);
    const finishedId = String(finished.result?.taskId);
    const before = await settled(finishedId);
    const running = await sleep(60_000);
    const runningId = String(running.result?.taskId);
    const legacy = await legacyClient();
    let legacyId = '';
    try {
      const messages = await drain(callToolStream(legacy, { name: 'demo__echo', arguments: { text: 'kept' } }, { ttl: 60_000 }));
      const created = messages.find((m) => m.type === 'taskCreated');
      legacyId = created?.type === 'taskCreated' ? created.task.taskId : '';
    } finally {
      await legacy.close();
    }
    const dir = gw.dir;
    await gw.stop('SIGTERM');
    await start(dir);

    const after = await rpc('tasks/get', { taskId: finishedId });
    expect(after.result).toMatchObject({ status: 'completed', result: before.result, createdAt: before.createdAt });
    const cut = await rpc('tasks/get', { taskId: runningId });
    expect(cut.result).toMatchObject({ status: 'failed', error: { code: -32603, data: { code: 'INTERRUPTED' } } });
    expect(cut.result).not.toHaveProperty('result');
    expect((await rpc('tasks/get', { taskId: legacyId })).result).toMatchObject({ status: 'completed', result: { content: [{ text: 'kept' }] } });
    expectNotFound(await rpc('tasks/get', { taskId: finishedId }, { token: BOB }));
    // A 2025 client of the owner reads the task made before the restart too.
    const client = await legacyClient();
    try {
      const result = await client.request({ method: 'tasks/result', params: { taskId: legacyId } }, z.looseObject({}));
      expect(JSON.stringify(result)).toContain('kept');
    } finally {
      await client.close();
    }
  });
});
