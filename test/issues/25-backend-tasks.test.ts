import { join } from 'node:path';
import type { CallToolResult, Progress } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eventually, fixture, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { callToolStream, type TaskMessage } from '../helpers/mcp-tasks.js';

/*
 * Issue #25 item 1, the rest: a backend tool whose own task support is
 * `required` (server-everything's simulate-research-query, a 2025-11-25
 * server on the v1 SDK's experimental tasks) runs task-augmented on the
 * backend, and its result is the call's result for every caller kind; the
 * backend task's statuses come back as progress (and as the statusMessage
 * of the gateway's own task); cancelling the call cancels the backend's task.
 */

const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const V = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const TOOL = 'simulate-research-query';
/** A backend task status as progress: its status, then the stage's message. */
const STAGE_STATUS = /^(working|completed): (Gathering sources|Analyzing content|Synthesizing findings|Generating report)\.\.\.$/;

const CONFIG = `
[[backends]]
name = "everything"
command = "node"
args = [${q(EVERYTHING)}, "stdio"]
task_tools = [${q(TOOL)}]

# The same server with a timeout shorter than the tool's four stages.
[[backends]]
name = "hasty"
command = "node"
args = [${q(EVERYTHING)}, "stdio"]
timeout = 1500

# A 2026-07-28 backend with its own Tasks extension (test/fixtures/modern-task-server.ts).
[[backends]]
name = "survey"
command = "node"
args = [${q(fixture('modern-task-server'))}]
protocol = "2026-07-28"
`;

let gw: RunningGateway;
const clients: Client[] = [];
const Loose = z.looseObject({});

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  for (const name of ['everything', 'hasty', 'survey']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

/** The report the tool ends with (its non-ambiguous run: no elicitation). */
function expectReport(result: unknown, topic: string, gatewayTask?: string): void {
  const text = (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  expect(text).toContain(`# Research Report: ${topic}`);
  expect(text).toContain('Stage 4: Generating report');
  // The backend's related-task _meta is its own client's business, not the caller's (a task of the gateway's names its own).
  const related = (result as CallToolResult)._meta?.['io.modelcontextprotocol/related-task'];
  expect(related).toEqual(gatewayTask === undefined ? undefined : { taskId: gatewayTask });
}

async function legacyClient(path = '/mcp', capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'backend-tasks', version: '1' }, { capabilities });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  return client;
}

/** One raw 2026-07-28 request to /mcp, declaring the Tasks extension or not. */
async function rpc(method: string, params: Record<string, unknown>, declares: boolean): Promise<{ result?: Record<string, unknown>; error?: unknown }> {
  const name = params.name ?? params.taskId;
  const response = await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V,
      'mcp-method': method,
      ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          'io.modelcontextprotocol/clientInfo': { name: 'backend-tasks', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': declares ? { extensions: { [EXT]: {} } } : {},
        },
      },
    }),
  });
  return (await response.json()) as { result?: Record<string, unknown>; error?: unknown };
}

async function rest(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown>;
}

describe("issue 25: a backend's `required` task tool runs as a task on the backend", () => {
  it('a 2025 session calls it plainly on /mcp and gets the result; the backend task statuses come as progress', async () => {
    const client = await legacyClient();
    const progress: Progress[] = [];
    const result = await client.request({ method: 'tools/call', params: { name: `everything__${TOOL}`, arguments: { topic: 'tidal energy' } } }, Loose, {
      onprogress: (p) => progress.push(p),
    });
    expectReport(result, 'tidal energy');
    // The gateway polls at the backend's pollInterval (1 s), as long as a stage lasts, so which stages it sees depends on timing.
    const messages = progress.map((p) => p.message);
    for (const message of messages) expect(message).toMatch(STAGE_STATUS);
    expect(messages.some((m) => m?.startsWith('working: '))).toBe(true);
    expect(messages.at(-1)).toBe('completed: Generating report...');
    // Progress only grows.
    expect(progress.map((p) => p.progress)).toEqual(progress.map((_, i) => i + 1));
  });

  it('on /mcp/{server} too', async () => {
    const client = await legacyClient('/mcp/everything');
    const result = await client.request({ method: 'tools/call', params: { name: TOOL, arguments: { topic: 'peat bogs' } } }, Loose);
    expectReport(result, 'peat bogs');
  });

  it('a 2026-07-28 client calls it statelessly and gets the result', async () => {
    const answer = await rpc('tools/call', { name: `everything__${TOOL}`, arguments: { topic: 'lichens' } }, false);
    expect(answer.error).toBeUndefined();
    expectReport(answer.result, 'lichens');
  });

  it('REST POST /call answers with the result', async () => {
    const body = await rest('POST', '/call', { server: 'everything', tool: TOOL, arguments: { topic: 'kelp forests' } });
    expect(body.error).toBeUndefined();
    expectReport(body.result, 'kelp forests');
  });

  it("an async call's state carries the backend task's status, then the result", async () => {
    const { call_id } = (await rest('POST', '/call/async', { server: 'everything', tool: TOOL, arguments: { topic: 'glaciers' } })) as { call_id: string };
    // Any stage the gateway's poll lands on (it polls at the backend's 1 s pollInterval, as long as a stage lasts).
    const seen = await eventually(async () => {
      const state = await rest('GET', `/call/${call_id}`);
      const message = (state.progress as { message?: string } | undefined)?.message;
      return message?.startsWith('working: ') === true ? message : undefined;
    }, 20_000);
    expect(seen).toMatch(STAGE_STATUS);
    const done = await rest('GET', `/call/${call_id}?wait_ms=20000`);
    expect(done.status).toBe('complete');
    expectReport(done.result, 'glaciers');
  });

  it("a 2025 task of the gateway's (task-augmented tools/call) ends with the backend task's result", async () => {
    const client = await legacyClient();
    const messages: TaskMessage[] = [];
    for await (const message of callToolStream(client, { name: `everything__${TOOL}`, arguments: { topic: 'moss' } }, { ttl: 60_000 })) messages.push(message);
    const first = messages[0];
    const last = messages.at(-1);
    expect(first?.type).toBe('taskCreated');
    expect(last?.type).toBe('result');
    expectReport(last?.type === 'result' ? last.result : undefined, 'moss', first?.type === 'taskCreated' ? first.task.taskId : undefined);
  });

  it("a Tasks-extension task of the gateway's (task_tools) ends with the backend task's result; its statusMessage is the backend's", async () => {
    const created = await rpc('tools/call', { name: `everything__${TOOL}`, arguments: { topic: 'dunes' } }, true);
    expect(created.result?.resultType).toBe('task');
    const taskId = created.result?.taskId as string;
    const statuses = new Set<string>();
    const done = await eventually(async () => {
      const task = (await rpc('tasks/get', { taskId }, true)).result;
      if (typeof task?.statusMessage === 'string') statuses.add(task.statusMessage);
      return task?.status === 'completed' ? task : undefined;
    }, 20_000);
    expectReport(done.result, 'dunes');
    expect([...statuses].some((s) => s.includes('working: '))).toBe(true);
  });

  it("cancelling an async call cancels the backend's task (tasks/cancel)", async () => {
    const { call_id } = (await rest('POST', '/call/async', { server: 'everything', tool: TOOL, arguments: { topic: 'fjords' } })) as { call_id: string };
    await eventually(async () => ((await rest('GET', `/call/${call_id}`)).progress === undefined ? undefined : true), 20_000);
    const cancelled = await rest('DELETE', `/call/${call_id}`);
    expect(cancelled.status).toBe('cancelled');
    const line = await gw.waitForLog((l) => l.msg === 'backend task cancelled' && l.backend === 'everything');
    expect(line.status).toBe('cancelled');
  });

  it("a call whose deadline expires ends TIMEOUT and cancels the backend's task", async () => {
    const response = await fetch(`${gw.url}/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'hasty', tool: TOOL, arguments: { topic: 'tundra' } }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.code).toBe('TIMEOUT');
    const line = await gw.waitForLog((l) => l.msg === 'backend task cancelled' && l.backend === 'hasty');
    expect(line.status).toBe('cancelled');
  });

  it("a backend task's input request (input_required, elicitation on the tasks/result stream) reaches a 2025 session that can answer it", async () => {
    const client = await legacyClient('/mcp', { elicitation: { form: {} } });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(String(request.params.message));
      return { action: 'accept', content: { interpretation: 'historical' } };
    });
    const progress: Progress[] = [];
    const result = await client.request(
      { method: 'tools/call', params: { name: `everything__${TOOL}`, arguments: { topic: 'python', ambiguous: true } } },
      Loose,
      { onprogress: (p) => progress.push(p) },
    );
    expect(asked).toEqual([expect.stringContaining('The research query "python" could have multiple interpretations')]);
    expect(progress.map((p) => p.message)).toContain('input_required: Found multiple interpretations for "python". Requesting clarification...');
    const text = (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    expect(text).toContain('# Research Report: python (historical)');
  });
});

describe("issue 25: a 2026-07-28 backend's `required` task tool runs through its Tasks extension", () => {
  it('a 2025 session calls it plainly and gets the inline result of tasks/get; each status is progress', async () => {
    const client = await legacyClient();
    const progress: Progress[] = [];
    const result = await client.request({ method: 'tools/call', params: { name: 'survey__survey', arguments: { topic: 'owls' } } }, Loose, {
      onprogress: (p) => progress.push(p),
    });
    expect((result as CallToolResult).content).toEqual([{ type: 'text', text: 'survey of owls: 3 stages' }]);
    expect(progress.map((p) => p.message)).toEqual([
      'working: queued',
      'working: reading...',
      'working: counting...',
      'working: writing...',
      'completed: done',
    ]);
  });

  it('REST and a 2026-07-28 client get the result too', async () => {
    const body = await rest('POST', '/call', { server: 'survey', tool: 'survey', arguments: { topic: 'bats' } });
    expect(body.result).toEqual({ content: [{ type: 'text', text: 'survey of bats: 3 stages' }] });
    const answer = await rpc('tools/call', { name: 'survey__survey', arguments: { topic: 'moths' } }, false);
    expect(answer.result?.content).toEqual([{ type: 'text', text: 'survey of moths: 3 stages' }]);
  });

  it("a backend task's input_required reaches a 2025 session that can answer it; the answer goes back by tasks/update", async () => {
    const client = await legacyClient('/mcp', { elicitation: { form: {} } });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(String(request.params.message));
      return { action: 'accept', content: { topic: 'lichens' } };
    });
    const result = await client.request({ method: 'tools/call', params: { name: 'survey__ask', arguments: {} } }, Loose);
    expect(asked).toEqual(['which topic?']);
    expect((result as CallToolResult).content).toEqual([{ type: 'text', text: 'survey of lichens: 3 stages' }]);
  });

  it('a backend task that turns input_required for a caller that cannot be asked fails BACKEND_ERROR and is cancelled on the backend', async () => {
    const body = await rest('POST', '/call', { server: 'survey', tool: 'ask' });
    expect(body.code).toBe('BACKEND_ERROR');
    expect(body.error).toContain('asked for input inside its task');
    expect(body.error).toContain('there is no agent to ask');
    const line = await gw.waitForLog((l) => l.msg === 'backend task cancelled' && l.backend === 'survey');
    const listed = await rest('POST', '/call', { server: 'survey', tool: 'cancelled_tasks' });
    expect(
      JSON.parse(
        (listed.result as CallToolResult).content[0]?.type === 'text' ? ((listed.result as CallToolResult).content[0] as { text: string }).text : '[]',
      ),
    ).toEqual([line.backend_task]);
  });

  it('a backend that answers a plain call with a task nobody asked for is a BACKEND_ERROR, not an empty result', async () => {
    const body = await rest('POST', '/call', { server: 'survey', tool: 'rogue' });
    expect(body.code).toBe('BACKEND_ERROR');
    expect(body.error).toContain('although the call did not declare the Tasks extension');
  });
});
