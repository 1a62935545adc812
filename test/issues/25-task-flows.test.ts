import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { ALICE, BOB, EXT, envelope, expectAck, expectNotFound, TOKENS_CONFIG, TOKENS_ENV, tasksRpc, V } from '../helpers/tasks-2026.js';

/*
 * Issue #25 item 1, the flows of a task beyond its call: status on
 * subscriptions/listen; input inside a task (input_required with
 * inputRequests, answered by tasks/update) from backends of both eras;
 * `task_required` tools (-32021 without the extension); and a 2026-07-28
 * backend's own task handed to a caller that declared the extension, under
 * a sealed id (the MRTR → task composition).
 */

const CONFIG = `
${demoBackend()}
task_tools = ["sleep"]

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
${TOKENS_CONFIG}`;

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(CONFIG, { env: TOKENS_ENV });
  for (const name of ['demo', 'strict', 'modern', 'legacy', 'survey']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(stopAll);

const { rpc, sleep, settled } = tasksRpc(() => gw.url);

describe('issue 25.1: a task beyond its call', () => {
  describe('task status on subscriptions/listen', () => {
    const listen = (notifications: Record<string, unknown>, declares: boolean, signal?: AbortSignal) =>
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
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'subscriptions/listen', params: { notifications, _meta: envelope(declares) } }),
      });
    type Message = { method?: string; id?: number; result?: unknown; params?: Record<string, unknown> };
    /** Reads the stream's messages until `until` holds for them (or the stream ends); returns them all. */
    async function readUntil(response: Response, until: (messages: Message[]) => boolean): Promise<{ messages: Message[]; ended: boolean }> {
      const reader = response.body!.getReader();
      const messages: Message[] = [];
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return { messages, ended: true };
        text += new TextDecoder().decode(value);
        const frames = text.split('\n\n');
        text = frames.pop() ?? '';
        for (const frame of frames) {
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data !== undefined) messages.push(JSON.parse(data.slice('data: '.length)) as Message);
        }
        if (until(messages)) {
          reader.releaseLock();
          return { messages, ended: false };
        }
      }
    }
    const statuses = (messages: Message[]) => messages.filter((m) => m.method === 'notifications/tasks').map((m) => m.params?.status);

    it('taskIds without the extension are -32021', async () => {
      const taskId = String((await sleep(0)).result?.taskId);
      const body = (await (await listen({ taskIds: [taskId] }, false)).json()) as { id: number; error?: { code: number; data?: unknown } };
      expect(body.id).toBe(7);
      expect(body.error?.code).toBe(-32021);
      expect(body.error?.data).toEqual({ requiredCapabilities: { extensions: { [EXT]: {} } } });
    });

    it("the caller's tasks are acknowledged (another's left out) and each change of status arrives tagged; a tasks-only stream ends with its tasks", async () => {
      const mine = String((await sleep(400)).result?.taskId);
      const bobs = String((await sleep(0, { token: BOB })).result?.taskId);
      const stop = new AbortController();
      const response = await listen({ toolsListChanged: true, taskIds: [mine, bobs] }, true, stop.signal);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const { messages } = await readUntil(response, (m) => statuses(m).includes('completed'));
      stop.abort();
      expect(messages[0]).toMatchObject({
        method: 'notifications/subscriptions/acknowledged',
        params: { notifications: { toolsListChanged: true, taskIds: [mine] } },
      });
      const done = messages.find((m) => m.method === 'notifications/tasks' && m.params?.status === 'completed');
      expect(done?.params).toMatchObject({ taskId: mine, result: { content: [{ type: 'text' }] }, _meta: { 'io.modelcontextprotocol/subscriptionId': 7 } });
      expect(messages.some((m) => m.params?.taskId === bobs)).toBe(false);
      // Tasks only: the stream closes with the listen request's result once they have all ended.
      const only = await readUntil(await listen({ taskIds: [mine] }, true), () => false);
      expect(only.ended).toBe(true);
      expect(statuses(only.messages)).toEqual(['completed']);
      expect(only.messages.at(-1)).toMatchObject({ id: 7, result: { resultType: 'complete' } });
    });

    it('a task waiting for input shows input_required with its questions on the stream, then the end after tasks/update', async () => {
      const created = await rpc(
        'tools/call',
        { name: 'confirm_delete', arguments: { filename: 'c.txt' } },
        { path: '/mcp/modern', caps: { elicitation: { form: {} } } },
      );
      const taskId = String(created.result?.taskId);
      const response = await listen({ taskIds: [taskId] }, true);
      const waiting = await readUntil(response, (m) => statuses(m).includes('input_required'));
      const asked = waiting.messages.find((m) => m.params?.status === 'input_required')?.params?.inputRequests as Record<string, unknown>;
      const [key] = Object.keys(asked);
      expectAck(await rpc('tasks/update', { taskId, inputResponses: { [key!]: { action: 'accept', content: { confirm: false } } } }));
      const rest = await readUntil(response, () => false);
      expect(statuses(rest.messages)).toContain('completed');
      expect(JSON.stringify(rest.messages)).toContain('kept c.txt');
    });
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
    // Sealed: the backend's own id (t-<n>) is not in it, neither as its text nor in its payload's bytes. (A random
    // base64url string holds the letters `t-` about one time in fifty, so the text alone is no test.)
    const sealed = taskId.slice('btask1.'.length);
    expect(sealed).not.toMatch(/^t-\d+$/);
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toMatch(/t-\d/);
    expectNotFound(await rpc('tasks/get', { taskId }, { token: BOB }));
    expectNotFound(await rpc('tasks/get', { taskId: `${taskId.slice(0, -2)}AA` }));
    const done = await settled(taskId);
    expect(done).toMatchObject({ taskId, status: 'completed', result: { content: [{ type: 'text', text: 'survey of Alice: 3 stages' }] } });
    // A caller that did not declare the extension gets the result itself: the gateway polls the backend's task.
    const plain = await rpc('tools/call', { name: 'survey__survey', arguments: { topic: 'ferns' } }, { declares: false });
    expect(plain.result?.content).toEqual([{ type: 'text', text: 'survey of ferns: 3 stages' }]);
  });
});
