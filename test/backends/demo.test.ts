import { fileURLToPath } from 'node:url';
import type { CallToolResult, CreateMessageRequest, LoggingMessageNotification } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, type SessionOptions, SessionPool, type StdioSession } from '../helpers/stdio-session.js';

// The compiled server, exactly as the gateway would spawn it.
const DEMO = fileURLToPath(new URL('../../dist/backends/demo/server.js', import.meta.url));

const pool = new SessionPool();
afterEach(() => pool.closeAll());

function demo(options?: SessionOptions): Promise<StdioSession> {
  return pool.connect(DEMO, options);
}

function textOf(result: unknown): string {
  const content = (result as CallToolResult).content;
  return content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

describe('demo backend', () => {
  it('lists the fixed tools, the readme resource and the greet prompt', async () => {
    const { client } = await demo();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['echo', 'add', 'sleep', 'fail', 'crash', 'large', 'pid', 'log', 'sample', 'elicit', 'roots']),
    );
    expect(tools.find((tool) => tool.name === 'echo')?.annotations?.readOnlyHint).toBe(true);

    const readme = await client.readResource({ uri: 'demo://readme' });
    expect(JSON.stringify(readme.contents)).toContain('# demo');
    const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    expect(JSON.stringify(prompt.messages)).toContain('Ada');
  });

  it('echoes text and adds numbers with structured output', async () => {
    const { client } = await demo();
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi there' } }))).toBe('hi there');
    await client.listTools(); // lets the client validate structuredContent against outputSchema
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3.5 } });
    expect(textOf(sum)).toBe('5.5');
    expect(sum.structuredContent).toEqual({ sum: 5.5 });
  });

  it('reports fail as a tool error, with the default or given message', async () => {
    const { client } = await demo();
    const plain = await client.callTool({ name: 'fail', arguments: {} });
    expect(plain.isError).toBe(true);
    expect(textOf(plain)).toBe('demo failure');
    expect(textOf(await client.callTool({ name: 'fail', arguments: { message: 'boom' } }))).toBe('boom');
  });

  it('returns large outputs of exactly the requested size, up to the 10 MB maximum', async () => {
    const { client } = await demo();
    expect(textOf(await client.callTool({ name: 'large', arguments: { bytes: 1 } }))).toHaveLength(1);
    // 10,000,000 characters plus framing still fits the SDK's 10 MiB stdio line buffer.
    expect(textOf(await client.callTool({ name: 'large', arguments: { bytes: 10_000_000 } }))).toHaveLength(10_000_000);
    const tooBig = await client.callTool({ name: 'large', arguments: { bytes: 10_000_001 } });
    expect(tooBig.isError).toBe(true);
  });

  it('reports the pid of the process serving it', async () => {
    const { client, pid } = await demo();
    expect(textOf(await client.callTool({ name: 'pid', arguments: {} }))).toBe(String(pid));
  });

  it('sleeps, and reports increasing progress when asked', async () => {
    const { client } = await demo();
    const seen: Array<{ progress: number; total?: number }> = [];
    const result = await client.callTool(
      { name: 'sleep', arguments: { ms: 500 } },
      {
        onprogress: (progress) => seen.push(progress),
      },
    );
    expect(textOf(result)).toBe('slept 500 ms');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((p, i) => p.total === 500 && (i === 0 || p.progress > (seen[i - 1]?.progress ?? 0)))).toBe(true);
  });

  it('stops sleeping when the call is cancelled, and says so on stderr', async () => {
    const { client, stderr } = await demo();
    const running = deferred();
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'sleep', arguments: { ms: 60_000 } },
      {
        signal: controller.signal,
        // The first progress notification proves the handler is running.
        onprogress: () => running.resolve(),
      },
    );
    await running.promise;
    controller.abort('test cancelled the sleep');
    await expect(call).rejects.toThrow();
    await stderr.waitFor('demo: sleep cancelled');
  });

  it('crash exits without answering, and the connection closes', async () => {
    const { client, stderr } = await demo();
    const closed = deferred();
    client.onclose = () => closed.resolve();
    await expect(client.callTool({ name: 'crash', arguments: { code: 7 } })).rejects.toThrow(/Connection closed/);
    await closed.promise;
    await stderr.waitFor('demo: crashing');
  });

  it('crash uses the requested exit code, and a closed stdin exits with 0', async () => {
    const crashing = pool.raw(DEMO);
    await crashing.initialize();
    crashing.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crash', arguments: { code: 7 } } });
    expect(await crashing.exited).toBe(7);

    const idle = pool.raw(DEMO);
    await idle.initialize();
    idle.child.stdin.end();
    expect(await idle.exited).toBe(0);
  });

  it('sends log messages as MCP logging notifications', async () => {
    const logged = deferred<LoggingMessageNotification['params']>();
    const { client } = await demo({
      setup: (c) => c.setNotificationHandler('notifications/message', (n) => logged.resolve(n.params)),
    });
    expect(textOf(await client.callTool({ name: 'log', arguments: { level: 'warning', message: 'disk low' } }))).toBe('logged');
    expect(await logged.promise).toMatchObject({ level: 'warning', logger: 'demo', data: 'disk low' });
  });

  it('asks the client to sample, and explains when the client cannot', async () => {
    let asked: CreateMessageRequest['params'] | undefined;
    const { client } = await demo({
      capabilities: { sampling: {} },
      setup: (c) =>
        c.setRequestHandler('sampling/createMessage', (request) => {
          asked = request.params;
          return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'forty-two' } };
        }),
    });
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'meaning of life?' } }))).toBe('forty-two');
    expect(asked?.maxTokens).toBe(100);
    expect(JSON.stringify(asked?.messages)).toContain('meaning of life?');

    const { client: plain } = await demo();
    const refused = await plain.callTool({ name: 'sample', arguments: { prompt: 'hello' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/does not declare the 'sampling' capability/);
  });

  it('elicits an answer and lists roots through the client', async () => {
    const { client } = await demo({
      capabilities: { elicitation: {}, roots: {} },
      setup: (c) => {
        c.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { answer: 'blue' } }));
        c.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///tmp/project', name: 'project' }] }));
      },
    });
    const elicited = await client.callTool({ name: 'elicit', arguments: { message: 'Favourite colour?' } });
    expect(JSON.parse(textOf(elicited))).toEqual({ action: 'accept', content: { answer: 'blue' } });
    const roots = await client.callTool({ name: 'roots', arguments: {} });
    expect(JSON.parse(textOf(roots))).toEqual([{ uri: 'file:///tmp/project', name: 'project' }]);
  });

  it('adds DEMO_EXTRA_TOOLS generated tools with varied descriptions', async () => {
    const { client } = await demo({ env: { DEMO_EXTRA_TOOLS: '50' } });
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThanOrEqual(61);
    const generated = tools.filter((tool) => tool.name.startsWith('gen_'));
    expect(generated.map((tool) => tool.name)).toContain('gen_0049');
    expect(new Set(generated.map((tool) => tool.description)).size).toBe(50);
    expect(textOf(await client.callTool({ name: 'gen_0042', arguments: { text: 'ping' } }))).toBe('ping');
  });
});
