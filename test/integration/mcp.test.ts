import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CallToolResult, Transport } from '@modelcontextprotocol/client';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, demoBackend, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

const FS_SERVER = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const MEMORY_SERVER = join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');

const CONFIG = `
[supervisor]
restart_backoff_min = 50

${demoBackend()}

[[backends]]
name = "filesystem"
command = "node"
args = [${q(FS_SERVER)}, ${q(join(ROOT, 'examples'))}]

[[backends]]
name = "memory"
command = "node"
args = [${q(MEMORY_SERVER)}]
env = { MEMORY_FILE_PATH = "\${STONEGATE_DATA_DIR}/memory.jsonl" }
`;

const clients: Client[] = [];

async function connect(transport: Transport, options: { sampling?: boolean } = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' }, { capabilities: options.sampling === true ? { sampling: {} } : {} });
  await client.connect(transport);
  clients.push(client);
  return client;
}

function text(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  for (const name of ['demo', 'filesystem', 'memory']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe.each([
  ['Streamable HTTP', () => new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`))],
  ['legacy SSE', () => new SSEClientTransport(new URL(`${gw.url}/sse`))],
])('/mcp over %s', (_label, transport) => {
  it('lists prefixed tools of every backend plus the gate tools, and calls each backend', async () => {
    const client = await connect(transport());
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const name of ['demo__echo', 'filesystem__read_text_file', 'memory__read_graph', 'gate_call', 'gate_discover', 'gate_status'])
      expect(names).toContain(name);
    expect(text(await client.callTool({ name: 'demo__echo', arguments: { text: 'hello' } }))).toBe('hello');
    const file = await client.callTool({ name: 'filesystem__read_text_file', arguments: { path: join(ROOT, 'examples', 'hello.txt') } });
    expect(text(file)).toBe(readFileSync(join(ROOT, 'examples', 'hello.txt'), 'utf8'));
    const graph = await client.callTool({ name: 'memory__read_graph', arguments: {} });
    expect(JSON.parse(text(graph))).toHaveProperty('entities');
  });

  it('answers an unknown tool with JSON-RPC -32602 and a gateway failure with an isError result carrying the code', async () => {
    const client = await connect(transport());
    await expect(client.callTool({ name: 'demo__nope', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    const bad = await client.callTool({ name: 'demo__echo', arguments: { text: 42 } });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^INVALID_ARGUMENTS: /);
    expect(bad._meta).toEqual({ 'stonegate/error': { code: 'INVALID_ARGUMENTS' } });
  });
});

describe('/mcp features', () => {
  it('gate_discover finds read_text_file for "read file", and gate_call calls it', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const found = await client.callTool({ name: 'gate_discover', arguments: { query: 'read file', limit: 5 } });
    const tools = (found.structuredContent as { tools: { server: string; name: string; exposed_name: string; inputSchema: unknown }[] }).tools;
    expect(tools.slice(0, 3).map((t) => t.name)).toContain('read_text_file');
    expect(tools[0]).toMatchObject({ server: 'filesystem' });
    expect(tools[0]?.inputSchema).toMatchObject({ type: 'object' });
    const called = await client.callTool({ name: 'gate_call', arguments: { server: 'demo', tool: 'add', arguments: { a: 2, b: 3 } } });
    expect(called.structuredContent).toEqual({ sum: 5 });
    const status = await client.callTool({ name: 'gate_status', arguments: { server: 'demo' } });
    expect((status.structuredContent as { servers: { name: string; status: string }[] }).servers).toMatchObject([{ name: 'demo', status: 'running' }]);
  });

  it('expose=meta lists only the gate tools; servers= limits the view', async () => {
    const meta = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp?expose=meta`)));
    expect((await meta.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'gate_await',
      'gate_call',
      'gate_call_async',
      'gate_cancel',
      'gate_discover',
      'gate_poll',
      'gate_status',
    ]);
    const limited = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp?servers=demo`)));
    const names = (await limited.listTools()).tools.map((t) => t.name);
    expect(names).toContain('demo__echo');
    expect(names.some((n) => n.startsWith('filesystem__'))).toBe(false);
    await expect(limited.callTool({ name: 'filesystem__list_allowed_directories', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    const viaGate = await limited.callTool({ name: 'gate_call', arguments: { server: 'memory', tool: 'read_graph', arguments: {} } });
    expect(viaGate.isError).toBe(true);
    expect(text(viaGate)).toMatch(/^UNKNOWN_SERVER/);
  });

  it('/mcp/{server} serves one backend under its original names, resources and prompts included', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/demo`)));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('gate_call');
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'direct' } }))).toBe('direct');
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['demo://readme']);
    expect((await client.readResource({ uri: 'demo://readme' })).contents[0]?.uri).toBe('demo://readme');
    expect((await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } })).messages.length).toBeGreaterThan(0);
    const fs = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/filesystem`)));
    expect((await fs.listTools()).tools.map((t) => t.name)).toContain('read_text_file');
  });

  it('proxies resources and prompts on /mcp with prefixed URIs and names', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris).toContain('stonegate://demo/demo://readme');
    const read = await client.readResource({ uri: 'stonegate://demo/demo://readme' });
    expect(read.contents[0]).toMatchObject({ uri: 'stonegate://demo/demo://readme' });
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toContain('demo__greet');
    const prompt = await client.getPrompt({ name: 'demo__greet', arguments: { name: 'Ada' } });
    expect(JSON.stringify(prompt.messages)).toContain('Ada');
  });

  it('forwards a backend sampling request to the client that made the call, and returns its answer', async () => {
    const asked: string[] = [];
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)), { sampling: true });
    client.setRequestHandler('sampling/createMessage', async (request) => {
      const content = request.params.messages[0]?.content as { text: string };
      asked.push(content.text);
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: `answer to ${content.text}` } };
    });
    const other = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)), { sampling: true });
    other.setRequestHandler('sampling/createMessage', async () => {
      throw new Error('the other client must not be asked');
    });
    const result = await client.callTool({ name: 'demo__sample', arguments: { prompt: 'what is 2+2' } });
    expect(text(result)).toBe('answer to what is 2+2');
    expect(asked).toEqual(['what is 2+2']);
  });

  it('delivers progress notifications to the caller', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const progress: number[] = [];
    const result = await client.callTool({ name: 'demo__sleep', arguments: { ms: 350 } }, { onprogress: (p) => progress.push(p.progress) });
    expect(text(result)).toBe('slept 350 ms');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('cancels a call at the backend when the client cancels it', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const controller = new AbortController();
    const call = client.callTool({ name: 'demo__sleep', arguments: { ms: 30_000 } }, { signal: controller.signal });
    await gw.waitForLog(() => true, 100).catch(() => undefined);
    setTimeout(() => controller.abort('test cancels'), 200);
    await expect(call).rejects.toThrow();
    await gw.waitForLog((l) => l.backend === 'demo' && l.msg === 'demo: sleep cancelled');
  });

  it('sends tools/list_changed when a backend restarts', async () => {
    const client = await connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    await client.listTools();
    const changed = new Promise<void>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));
    const servers = (await gw.request('GET', '/server/list')).body.servers as { name: string; pid: number }[];
    process.kill(servers.find((s) => s.name === 'demo')!.pid, 'SIGKILL');
    await changed;
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('demo__echo');
  });

  it('refuses a foreign Host or Origin (DNS rebinding) and accepts loopback ones', async () => {
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const evilOrigin = await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...headers, origin: 'http://evil.example.com' }, body: init });
    expect(evilOrigin.status).toBe(403);
    const goodOrigin = await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...headers, origin: gw.url }, body: init });
    expect(goodOrigin.status).toBe(200);
    // fetch() will not forge Host; a raw request can.
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${gw.url}/mcp`);
      const req = request({ host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers: { ...headers, host: 'evil.example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(init);
    });
    expect(status).toBe(403);
  });

  it('answers a request with an unknown session id with 404', async () => {
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'no-such-session' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(404);
  });

  it('works with the MCP inspector CLI', async () => {
    // The inspector's CLI package alone (the full inspector wants Node >= 22.7.5; the CLI runs on Node 20).
    // It finds its own package.json through a path relative to the working directory, so it runs from its build folder.
    const build = join(ROOT, 'node_modules/@modelcontextprotocol/inspector-cli/build');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(build, 'cli.js'), '--cli', `${gw.url}/mcp`, '--transport', 'http', '--method', 'tools/list'],
      { cwd: build, timeout: 60_000 },
    );
    const listed = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name)).toContain('demo__echo');
  });
});

describe('serve --stdio', () => {
  it('serves one client over stdin/stdout with every backend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-stdio-'));
    const config = join(dir, 'stonegate.toml');
    writeFileSync(config, CONFIG);
    try {
      const client = await connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [BIN, 'serve', '--stdio', '-c', config, '--data-dir', join(dir, 'data')],
          cwd: ROOT,
          stderr: 'ignore',
        }),
      );
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('demo__echo');
      expect(names).toContain('filesystem__read_text_file');
      expect(text(await client.callTool({ name: 'demo__echo', arguments: { text: 'over stdio' } }))).toBe('over stdio');
      await client.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('roots', () => {
  it("answers a backend's roots/list with the backend's configured roots", async () => {
    const rootsGw = await startGateway(`
${demoBackend()}
roots = [${q(join(ROOT, 'examples'))}]
`);
    await rootsGw.waitForLog((l) => l.msg === 'backend ready');
    const { body } = await rootsGw.request('POST', '/call', { server: 'demo', tool: 'roots', arguments: {} });
    const roots = JSON.parse(text(body.result)) as { roots?: { uri: string }[] } | { uri: string }[];
    const list = Array.isArray(roots) ? roots : (roots.roots ?? []);
    expect(list.map((r) => r.uri)).toEqual([`file://${join(ROOT, 'examples')}`]);
    await rootsGw.stop();
  });
});
