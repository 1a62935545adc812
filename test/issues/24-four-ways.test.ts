import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #24 item 2, the two directions toward a 2026-07-28 backend (the
 * modern conformance fixture, over stdio with protocol = "2026-07-28" and
 * over HTTP with protocol unset = "auto"): a 2026-07-28 client gets the
 * backend's input_required verbatim and retries itself (here its SDK does,
 * autoFulfill on); a 2025 client's session is asked inside the same call
 * (elicitation/create, sampling/createMessage), roots come from the
 * backend's `roots` config. Both get the completed result.
 */

const ROOT_URI = 'file:///srv/configured-root';
const clients: Client[] = [];
let gw: RunningGateway;
let httpBackend: ChildProcess;

async function startHttpBackend(): Promise<number> {
  httpBackend = spawn(process.execPath, [fixture('conformance-modern-server'), '--http', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: httpBackend.stdout! }).once('line', resolve);
    httpBackend.once('exit', (code) => reject(new Error(`modern fixture exited (${code}) before listening`)));
  });
  return Number(/^listening (\d+)$/.exec(line)?.[1]);
}

beforeAll(async () => {
  const port = await startHttpBackend();
  gw = await startGateway(`
[[backends]]
name = "modern-stdio"
command = "node"
args = [${q(fixture('conformance-modern-server'))}]
protocol = "2026-07-28"
roots = [${q(ROOT_URI)}]

[[backends]]
name = "modern-http"
transport = "http"
url = "http://127.0.0.1:${port}/mcp"
roots = [${q(ROOT_URI)}]
`);
  for (const name of ['modern-stdio', 'modern-http']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  await stopAll();
  if (httpBackend.exitCode === null) {
    const exited = new Promise((resolve) => httpBackend.once('exit', resolve));
    httpBackend.kill();
    await exited;
  }
});

type Era = 'modern' | 'legacy';
const BACKENDS = ['modern-stdio', 'modern-http'] as const;

/** A client of `era` on /mcp/{backend} that answers elicitation (name Ada), sampling (Paris) and roots (its own). */
async function connect(path: string, era: Era, options: { autoFulfill?: boolean; capabilities?: Record<string, unknown> } = {}): Promise<Client> {
  const capabilities = options.capabilities ?? { elicitation: {}, sampling: {}, roots: {} };
  const client = new Client({ name: `four-ways-${era}`, version: '1' }, {
    capabilities,
    ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
    ...(options.autoFulfill === false ? { inputRequired: { autoFulfill: false } } : {}),
  } as ConstructorParameters<typeof Client>[1]);
  if ('elicitation' in capabilities) {
    client.setRequestHandler('elicitation/create', async (request) => {
      const properties = Object.keys((request.params as { requestedSchema?: { properties?: object } }).requestedSchema?.properties ?? {});
      const field = properties[0] ?? 'name';
      return { action: 'accept', content: { [field]: field === 'name' ? 'Ada' : `my ${field}` } };
    });
  }
  if ('sampling' in capabilities) {
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test-model' }));
  }
  if ('roots' in capabilities) client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///client/own-root', name: 'own' }] }));
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  clients.push(client);
  return client;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

describe('issue 24: calls through a 2026-07-28 backend', () => {
  it.each(BACKENDS.flatMap((b) => (['modern', 'legacy'] as const).map((era) => [b, era] as const)))(
    '%s: a %s client lists, calls, reads and gets prompts',
    async (backend, era) => {
      const client = await connect(`/mcp/${backend}`, era);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(['test_simple_text', 'test_input_required_result_elicitation']),
      );
      expect(text(await client.callTool({ name: 'test_simple_text', arguments: {} }))).toBe('This is a simple text response for testing.');
      const read = await client.readResource({ uri: 'test://static-text' });
      expect(read.contents[0]?.uri).toBe('test://static-text');
      expect((await client.getPrompt({ name: 'test_simple_prompt', arguments: {} })).messages.length).toBeGreaterThan(0);
    },
  );

  it.each(BACKENDS)('%s: REST POST /call reaches it; its roots input request is answered from the roots config', async (backend) => {
    const plain = await gw.request('POST', '/call', { server: backend, tool: 'test_simple_text', arguments: {} });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    const roots = await gw.request('POST', '/call', { server: backend, tool: 'test_input_required_result_list_roots', arguments: {} });
    expect(roots.status, JSON.stringify(roots.body)).toBe(200);
    expect(text(roots.body.result)).toBe(`Client roots: ${ROOT_URI}`);
  });

  it.each(BACKENDS)('%s: a REST caller has no agent: the backend is told so and refuses an elicitation itself (-32021)', async (backend) => {
    const answer = await gw.request('POST', '/call', { server: backend, tool: 'test_input_required_result_elicitation', arguments: {} });
    expect(answer.body.code, JSON.stringify(answer.body)).toBe('BACKEND_ERROR');
    expect(answer.body.backend_code).toBe(-32021);
  });
});

describe('issue 24: four ways, the two toward a 2026-07-28 backend', () => {
  it.each(BACKENDS.flatMap((b) => (['modern', 'legacy'] as const).map((era) => [b, era] as const)))(
    '%s: a %s client completes an elicitation and a sampling round trip',
    async (backend, era) => {
      const client = await connect(`/mcp/${backend}`, era);
      expect(text(await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }))).toBe('Hello, Ada!');
      expect(text(await client.callTool({ name: 'test_input_required_result_sampling', arguments: {} }))).toBe('LLM response: Paris');
      expect(text(await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} }))).toBe('Ada likes my color');
      const prompt = await client.getPrompt({ name: 'test_input_required_result_prompt', arguments: {} });
      expect(prompt.messages[0]?.content).toMatchObject({ text: 'Prompt with context: my context' });
    },
  );

  it.each(['modern', 'legacy'] as const)(
    'on /mcp (prefixed names) a %s client completes tool round trips (by name and with gate_call), a prompt round trip and reads',
    async (era) => {
      const client = await connect('/mcp', era);
      for (const backend of BACKENDS) {
        expect(text(await client.callTool({ name: `${backend}__test_input_required_result_elicitation`, arguments: {} }))).toBe('Hello, Ada!');
        const viaGate = await client.callTool({
          name: 'gate_call',
          arguments: { server: backend, tool: 'test_input_required_result_sampling', arguments: {} },
        });
        expect(text(viaGate)).toBe('LLM response: Paris');
        const prompt = await client.getPrompt({ name: `${backend}__test_input_required_result_prompt`, arguments: {} });
        expect(prompt.messages[0]?.content).toMatchObject({ text: 'Prompt with context: my context' });
        const read = await client.readResource({ uri: `stonegate://${backend}/test://static-text` });
        expect(read.contents[0]?.uri).toBe(`stonegate://${backend}/test://static-text`);
      }
    },
  );

  it.each(BACKENDS)('%s: roots: a 2026-07-28 client answers them itself, a 2025 session gets the roots config', async (backend) => {
    const modern = await connect(`/mcp/${backend}`, 'modern');
    expect(text(await modern.callTool({ name: 'test_input_required_result_list_roots', arguments: {} }))).toBe('Client roots: file:///client/own-root');
    const legacy = await connect(`/mcp/${backend}`, 'legacy');
    expect(text(await legacy.callTool({ name: 'test_input_required_result_list_roots', arguments: {} }))).toBe(`Client roots: ${ROOT_URI}`);
  });

  it.each(BACKENDS)('%s: a 2026-07-28 client gets input_required verbatim and its retry reaches the backend untouched', async (backend) => {
    const client = await connect(`/mcp/${backend}`, 'modern', { autoFulfill: false, capabilities: { elicitation: {} } });
    const first = (await client.callTool({ name: 'test_input_required_result_request_state', arguments: {} }, { allowInputRequired: true })) as Record<
      string,
      unknown
    >;
    expect(first.resultType).toBe('input_required');
    expect(Object.keys(first.inputRequests as object)).toEqual(['confirm']);
    const requestState = first.requestState as string;
    expect(requestState).toMatch(/^v1\./);
    // Not a CallToolRequest literal: its type has no retry fields.
    const retry: Parameters<Client['callTool']>[0] = Object.assign(
      { name: 'test_input_required_result_request_state', arguments: {} },
      { inputResponses: { confirm: { action: 'accept', content: { ok: true } } }, requestState },
    );
    expect(text(await client.callTool(retry, { allowInputRequired: true }))).toBe('state-ok: confirmed=true');
    // A tampered state is the backend's to refuse: it is passed on as sent, and its JSON-RPC error comes back as it was.
    const tampered = client.callTool(Object.assign({}, retry, { requestState: `${requestState}x` }), { allowInputRequired: true });
    await expect(tampered).rejects.toMatchObject({ code: -32602, message: expect.stringMatching(/Invalid or expired requestState/) });
  });

  it.each(BACKENDS)('%s: the backend is told the capabilities the caller declared, per request', async (backend) => {
    const modern = await connect(`/mcp/${backend}`, 'modern', { autoFulfill: false, capabilities: { roots: {} } });
    const first = (await modern.callTool({ name: 'test_input_required_result_capabilities', arguments: {} }, { allowInputRequired: true })) as Record<
      string,
      unknown
    >;
    expect(Object.keys(first.inputRequests as object)).toEqual(['client_roots']);
    // A 2026-07-28 caller without sampling gets the backend's -32021 as it sent it, data and all.
    await expect(modern.callTool({ name: 'test_missing_capability', arguments: {} }, { allowInputRequired: true })).rejects.toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { sampling: {} } },
    });
    // A 2025 session without sampling: the backend itself refuses (-32021), the gateway's refusal is the second check.
    const legacy = await connect(`/mcp/${backend}`, 'legacy', { capabilities: { elicitation: {} } });
    const refused = await legacy.callTool({ name: 'test_missing_capability', arguments: {} });
    expect((refused as CallToolResult).isError).toBe(true);
    expect(text(refused)).toMatch(/-32021/);
    expect(text(await legacy.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }))).toBe('Hello, Ada!');
  });
});
