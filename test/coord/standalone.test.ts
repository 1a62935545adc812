import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { COORD_TOOLS } from '../../backends/coord/server.js';
import { MAIN, type RunningCoord, runCoordToExit, startCoord, stopAll } from '../helpers/coord-standalone.js';
import { report } from '../helpers/coord-store.js';

// These run the compiled server (npx tsc -p tsconfig.json first), over real sockets.
const dir = mkdtempSync(join(tmpdir(), 'coord-standalone-'));
let dbs = 0;
const freshDb = (): string => join(dir, `coord-${dbs++}.db`);
afterEach(() => stopAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Message {
  id: number;
  content: string;
}

describe('standalone coord server (node dist/backends/coord/main.js)', () => {
  it('runs the stonemux quick start end to end over HTTP and stops cleanly on SIGTERM', async () => {
    const coord = await startCoord(freshDb());
    expect(coord.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await coord.post('/agent/register', { agent_id: 'researcher', role: 'research', capabilities: ['web-search', 'analysis'], channel: 'default' });
    await coord.post('/agent/register', { agent_id: 'writer', role: 'writing', capabilities: ['content-creation'], channel: 'default' });
    expect((await coord.post('/msg/send', { from: 'researcher', to: 'writer', content: 'Analysis complete.' })).status).toBe(200);
    const poll = await coord.get('/msg/poll?agent_id=writer&timeout=5');
    expect((poll.body.messages as Message[]).map((m) => m.content)).toEqual(['Analysis complete.']);

    const task = await coord.post('/task/post', { description: 'Draft report', posted_by: 'researcher', required_capability: 'content-creation', priority: 5 });
    const claim = await coord.post('/task/claim', { agent_id: 'writer' });
    expect((claim.body.task as { id: string }).id).toBe(task.body.id);
    const done = await coord.post('/task/complete', { task_id: task.body.id, agent_id: 'writer', result: 'Report drafted.' });
    expect(done.body.status).toBe('complete');

    // A long-poll in flight at shutdown is answered, not dropped.
    const pending = coord.get('/msg/poll?agent_id=writer&timeout=60');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exit = await coord.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect((await pending).status).toBe(503);
  });

  it('serves MCP over Streamable HTTP at /mcp, sharing state with REST', async () => {
    const coord = await startCoord(freshDb());
    const client = new Client({ name: 'standalone-test', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    try {
      expect((await client.listTools()).tools.length).toBe(COORD_TOOLS.length);
      await client.callTool({ name: 'mux_register', arguments: { agent_id: 'mcp-agent', role: 'r' } });
      await coord.post('/agent/register', { agent_id: 'rest-agent', role: 'r' });
      await coord.post('/msg/send', { from: 'rest-agent', to: 'mcp-agent', content: 'hello over REST' });
      const result = (await client.callTool({ name: 'mux_poll', arguments: { agent_id: 'mcp-agent', timeout: 1 } })) as CallToolResult;
      expect((result.structuredContent as { messages: Message[] }).messages.map((m) => m.content)).toEqual(['hello over REST']);
    } finally {
      await client.close();
    }
    // DNS-rebinding guard: a foreign Host is refused (fetch cannot set Host, node:http can).
    const { port } = new URL(coord.url);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(403);
  });

  it('exits 1 (a runtime failure, not a usage error) when its port is taken', async () => {
    const holder = await startCoord(freshDb());
    const port = new URL(holder.url).port;
    const { code, stderr } = await runCoordToExit(['--port', port, '--db', freshDb()]);
    expect(code).toBe(1);
    expect(stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
  });

  it('speaks MCP on stdio, and exits with 0 when stdin closes', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [MAIN, '--stdio', '--db', freshDb()], stderr: 'pipe' });
    const client = new Client({ name: 'stdio-test', version: '0.0.0' });
    await client.connect(transport);
    const registered = (await client.callTool({ name: 'mux_register', arguments: { agent_id: 'a', role: 'r' } })) as CallToolResult;
    expect(registered.isError ?? false).toBe(false);
    await client.close();

    // Without the SDK (which would SIGTERM a lingering child): end stdin and expect a clean exit.
    const proc = spawn(process.execPath, [MAIN, '--stdio', '--db', freshDb()], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => createInterface({ input: proc.stderr }).on('line', (line) => line.includes('coord ready on stdio') && resolve()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    proc.stdin.end();
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it('delivers all 1,000 acknowledged sends after a SIGKILL and restart, none twice to an acknowledging poller', async () => {
    const db = freshDb();
    let coord: RunningCoord = await startCoord(db);
    await coord.post('/agent/register', { agent_id: 'sender', role: 'r' });
    await coord.post('/agent/register', { agent_id: 'receiver', role: 'r' });

    // An at-least-once consumer: it passes the id of the last message it
    // handled (`cursor`) on every poll, and keeps trying while the server is down.
    const handled: string[] = [];
    let cursor = 0;
    const pollOnce = async (): Promise<{ messages: Message[]; next_cursor: number }> => {
      const res = await fetch(`${coord.url}/coord/msg/poll?agent_id=receiver&after=${cursor}&limit=37&timeout=1`);
      if (res.status !== 200) throw new Error(`poll answered ${res.status}`);
      return (await res.json()) as { messages: Message[]; next_cursor: number };
    };
    const consume = async (until: number, deadline: number): Promise<void> => {
      while (handled.length < until && Date.now() < deadline) {
        try {
          const page = await pollOnce();
          handled.push(...page.messages.map((m) => m.content));
          cursor = page.next_cursor;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50)); // server down: retry
        }
      }
    };

    // Phase 1: sends (10 at a time, each one acknowledged with 200) while the
    // consumer handles the first 300 and then falls behind.
    const consuming = consume(300, Date.now() + 30_000);
    const contents = Array.from({ length: 1000 }, (_, i) => `m${i}`);
    for (let i = 0; i < contents.length; i += 10) {
      const acks = await Promise.all(contents.slice(i, i + 10).map((content) => coord.post('/msg/send', { from: 'sender', to: 'receiver', content })));
      expect(acks.map((a) => a.status)).toEqual(Array(acks.length).fill(200));
    }
    await consuming;
    // Phase 2: the consumer receives one more batch and "crashes" before
    // handling it, so it never acknowledges it.
    const unhandled = await pollOnce();
    expect(unhandled.messages.length).toBeGreaterThan(0);
    // Phase 3: SIGKILL, no chance to flush anything.
    expect((await coord.stop('SIGKILL')).signal).toBe('SIGKILL');
    const before = handled.length;

    coord = await startCoord(db);
    await consume(1000, Date.now() + 20_000);
    report(`coord SIGKILL test: ${before} of 1000 handled before the kill, ${1000 - before} after the restart`);
    expect(handled).toHaveLength(1000);
    expect(new Set(handled).size).toBe(1000);
    expect([...handled].sort()).toEqual([...contents].sort());
    // The batch received but never acknowledged came again after the restart.
    for (const m of unhandled.messages) expect(handled).toContain(m.content);
    expect((await coord.get('/stats')).body.messages).toMatchObject({ total: 1000 });
  });

  it('hands 20 tasks to 50 claimers spread over two server processes sharing one database, once each', async () => {
    const db = freshDb();
    const a = await startCoord(db);
    const b = await startCoord(db);
    const agents = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
    for (const agent_id of agents) await a.post('/agent/register', { agent_id, role: 'worker', capabilities: ['build'] });
    await a.post('/agent/register', { agent_id: 'lead', role: 'lead' });
    for (let i = 0; i < 20; i++) await b.post('/task/post', { description: `job ${i}`, posted_by: 'lead', required_capability: 'build', priority: i % 5 });
    const claims = await Promise.all(agents.map((agent_id, i) => (i % 2 === 0 ? a : b).post('/task/claim', { agent_id })));
    expect(claims.every((c) => c.status === 200)).toBe(true);
    const ids = claims.flatMap((c) => (c.body.task === null ? [] : [(c.body.task as { id: string }).id]));
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('refuses bad arguments with a usage line and a non-zero exit', async () => {
    await expect(startCoord(freshDb(), ['--opt', 'no_such_option=1'])).rejects.toThrow(/exited \(2\)/);
  });
});
