import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { callToolStream, type TaskMessage } from '../helpers/mcp-tasks.js';
import { ALICE, BOB, EXT, expectAck, expectNotFound, TOKENS_CONFIG, TOKENS_ENV, tasksRpc } from '../helpers/tasks-2026.js';

/*
 * Issue #25 item 1: the gateway's async dispatch served as the Tasks
 * extension (io.modelcontextprotocol/tasks) to 2026-07-28 clients, from the
 * same durable table as gate_call_async and the 2025-11-25 tasks: a long
 * call of a `task_tools` tool becomes a task for a client that declares the
 * extension, tasks/get / tasks/update / tasks/cancel answer its owner only,
 * and a finished task reads the same after a gateway restart. A 2025 client
 * keeps its tasks (the `task` parameter, tasks/result), in the same table.
 */

const CONFIG = `
${demoBackend()}
task_tools = ["sleep"]

${demoBackend('plain')}

[[backends]]
name = "modern"
command = "node"
args = [${q(fixture('conformance-modern-server'))}]
protocol = "2026-07-28"
${TOKENS_CONFIG}`;

let gw: RunningGateway;

async function start(dir?: string): Promise<void> {
  gw = await startGateway(CONFIG, { env: TOKENS_ENV, keep: true, ...(dir === undefined ? {} : { dir }) });
  for (const name of ['demo', 'plain', 'modern']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
}

beforeAll(() => start());
afterAll(stopAll);

const { rpc, sleep, settled } = tasksRpc(() => gw.url);

const UI = 'io.modelcontextprotocol/ui';

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
