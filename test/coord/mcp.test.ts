import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoordOptionsInput } from '../../backends/coord/options.js';
import { COORD_TOOLS, createCoordServer } from '../../backends/coord/server.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { whichFirst } from '../helpers/which-first.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openStore(options: CoordOptionsInput = {}): Promise<CoordStore> {
  const store = openSqliteStore(':memory:', options);
  cleanups.push(() => store.close());
  return store;
}

/** An SDK client connected to a fresh coord server over the in-memory transport, as the gateway mounts it. */
async function connect(store: CoordStore, options: CoordOptionsInput = {}): Promise<Client> {
  const server = createCoordServer(store, options);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'coord-test', version: '0.0.0' });
  await client.connect(clientSide);
  cleanups.push(async () => {
    await client.close();
    await server.close();
  });
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function text(result: CallToolResult): string {
  return result.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** The structured result of a successful call (and a check that the text says the same). */
async function ok<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const result = await call(client, name, args);
  expect(result.isError ?? false, text(result)).toBe(false);
  expect(JSON.parse(text(result))).toEqual(result.structuredContent);
  return result.structuredContent as T;
}

describe('coord MCP server', () => {
  it('lists every mux_* tool with a description written for models and an input schema', async () => {
    const client = await connect(await openStore());
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...COORD_TOOLS].sort());
    for (const tool of tools) {
      expect(tool.description?.length ?? 0, tool.name).toBeGreaterThan(60);
      expect(tool.inputSchema.type).toBe('object');
    }
    const send = tools.find((t) => t.name === 'mux_send');
    expect(send?.inputSchema.required).toEqual(['from', 'to', 'content']);
    expect(tools.find((t) => t.name === 'mux_history')?.annotations?.readOnlyHint).toBe(true);
    expect(client.getInstructions()).toContain('mux_register');
  });

  it('runs the stonemux quick start through tools: register, send, poll, post, claim, complete', async () => {
    const client = await connect(await openStore());
    await ok(client, 'mux_register', { agent_id: 'researcher', role: 'research', capabilities: ['web-search', 'analysis'], channel: 'default' });
    await ok(client, 'mux_register', { agent_id: 'writer', role: 'writing', capabilities: ['content-creation'] });
    const sent = await ok<{ id: number }>(client, 'mux_send', { from: 'researcher', to: 'writer', content: 'Analysis complete.' });
    const polled = await ok<{ messages: Array<{ id: number; content: string }>; next_cursor: number }>(client, 'mux_poll', { agent_id: 'writer', timeout: 5 });
    expect(polled.messages.map((m) => m.content)).toEqual(['Analysis complete.']);
    expect(polled.next_cursor).toBe(sent.id);

    const task = await ok<{ id: string }>(client, 'mux_task_post', {
      description: 'Draft competitive analysis report',
      posted_by: 'researcher',
      required_capability: 'content-creation',
      priority: 5,
      metadata: { format: 'markdown' },
    });
    const claim = await ok<{ task: { id: string }; lease: { epoch: number } }>(client, 'mux_task_claim', { agent_id: 'writer' });
    expect(claim.task.id).toBe(task.id);
    const done = await ok<{ status: string }>(client, 'mux_task_complete', {
      task_id: task.id,
      agent_id: 'writer',
      result: 'Drafted.',
      epoch: claim.lease.epoch,
    });
    expect(done.status).toBe('complete');
    const listed = await ok<{ tasks: Array<{ id: string }> }>(client, 'mux_task_list', { status: 'complete' });
    expect(listed.tasks.map((t) => t.id)).toEqual([task.id]);
    const agents = await ok<{ agents: Array<{ id: string }> }>(client, 'mux_discover', { capability: 'content-creation' });
    expect(agents.agents.map((a) => a.id)).toEqual(['writer']);
    const stats = await ok<{ messages: { total: number } }>(client, 'mux_stats');
    expect(stats.messages.total).toBe(1);
  });

  it('reports refusals as isError results whose text starts with the code, with details and _meta', async () => {
    const client = await connect(await openStore());
    const unknown = await call(client, 'mux_send', { from: 'nobody', to: 'x', content: 'hi' });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/^UNKNOWN_AGENT: Sender 'nobody' is not registered/);
    expect(unknown._meta).toEqual({ 'stonegate/error': { code: 'UNKNOWN_AGENT' }, chars: text(unknown).length, lines: 2, ms: expect.any(Number), unread: 0 });

    await ok(client, 'mux_state_set', { key: 'stage', value: 'extraction-complete', updated_by: 'graph-a' });
    const conflict = await call(client, 'mux_state_set', { key: 'stage', value: 'other', expected_version: 0 });
    expect(conflict.isError).toBe(true);
    expect(text(conflict)).toMatch(/^CONFLICT: /);
    expect(conflict.structuredContent).toMatchObject({ code: 'CONFLICT', current_version: 1, current_value: 'extraction-complete' });

    const bad = await call(client, 'mux_channel_create', { name: 'has space' });
    expect(text(bad)).toMatch(/^BAD_REQUEST: /);
    const tooBig = await call(client, 'mux_register', { agent_id: 'a', role: 'r' }).then(() =>
      call(client, 'mux_send', { from: 'a', to: 'a', content: 'x'.repeat(65_537) }),
    );
    expect(text(tooBig)).toMatch(/^PAYLOAD_TOO_LARGE: Message content is 65537 bytes/);
    // Arguments that break the input schema are refused before the tool runs.
    const schema = await call(client, 'mux_send', { from: 'a' });
    expect(schema.isError).toBe(true);
  });

  it('wakes a long-polling session when another session sends to it', async () => {
    const store = await openStore();
    const writer = await connect(store);
    const reader = await connect(store);
    await ok(writer, 'mux_register', { agent_id: 'coder', role: 'code' });
    await ok(reader, 'mux_register', { agent_id: 'reviewer', role: 'review' });
    await ok(writer, 'mux_register', { agent_id: 'idle', role: 'none' });
    const polling = ok<{ messages: Array<{ content: string }> }>(reader, 'mux_poll', { agent_id: 'reviewer', timeout: 20 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Woken by the send, not by its own timeout: it answers before a poll
    // nobody sends to, started after it with a shorter timeout, runs out.
    const idle = ok(writer, 'mux_poll', { agent_id: 'idle', timeout: 5 });
    await ok(writer, 'mux_send', { from: 'coder', to: 'reviewer', content: 'PR #42 ready for review.' });
    expect(await whichFirst({ woken: polling, 'idle poll ran out': idle })).toBe('woken');
    const { messages } = await polling;
    expect(messages.map((m) => m.content)).toEqual(['PR #42 ready for review.']);
    await ok(writer, 'mux_send', { from: 'coder', to: 'idle', content: 'done' });
    await idle;
  });

  it('watches state, broadcasts, keeps history and lists channels', async () => {
    const client = await connect(await openStore());
    for (const id of ['tester', 'coder', 'reviewer']) await ok(client, 'mux_register', { agent_id: id, role: 'dev' });
    const watching = ok<{ changed: boolean; version: number }>(client, 'mux_state_watch', { key: 'pipeline-stage', after_version: 0, timeout: 10 });
    await ok(client, 'mux_state_set', { key: 'pipeline-stage', value: 'extraction-complete', updated_by: 'graph-a' });
    expect(await watching).toMatchObject({ changed: true, version: 1 });
    const got = await ok<{ value: unknown }>(client, 'mux_state_get', { key: 'pipeline-stage' });
    expect(got.value).toBe('extraction-complete');

    const cast = await ok<{ recipients: string[] }>(client, 'mux_broadcast', { from: 'tester', content: 'PR #42: 47/47 tests pass.' });
    expect(cast.recipients).toEqual(['coder', 'reviewer']);
    const history = await ok<{ messages: Array<{ kind: string }> }>(client, 'mux_history', {});
    expect(history.messages.map((m) => m.kind)).toEqual(['broadcast']);

    await ok(client, 'mux_channel_create', { name: 'auth-service', created_by: 'orchestrator' });
    const { channels } = await ok<{ channels: Array<{ name: string }> }>(client, 'mux_channel_list');
    expect(channels.map((c) => c.name)).toEqual(['auth-service', 'default']);
    await ok(client, 'mux_heartbeat', { agent_id: 'tester' });
    expect(await ok(client, 'mux_deregister', { agent_id: 'tester' })).toMatchObject({ deregistered: true });
  });
});
