import { join } from 'node:path';
import type { CallToolResult, ClientCapabilities } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { q, ROOT, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 5: a backend's sampling/createMessage or elicitation/create
// during a call from an agent that did not declare that capability (the SDK
// client's default) was forwarded to a session that could never answer:
// the call waited the whole request_timeout, and the timeout counted against
// the backend's circuit for every agent. And the gateway declared to its
// backends too little (no URL-mode elicitation, no tasks for sampling or
// elicitation), so server-everything left those tools out of the catalog.
//
// request_timeout is ten minutes, far above this test's own timeout: a call
// that finishes has not waited for it. One failure opens the circuit.

const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const config = (gateway = ''): string => `
[gateway]
request_timeout = 600000
${gateway}

[circuit_breaker]
failure_threshold = 1

[[backends]]
name = "everything"
command = "node"
args = [${q(EVERYTHING)}, "stdio"]
`;

const clients: Client[] = [];

/** An SDK client on /mcp with the given capabilities (none: the SDK's default). */
async function agent(gw: RunningGateway, capabilities: ClientCapabilities = {}): Promise<Client> {
  const client = new Client({ name: 'agent', version: '1.0.0' }, { capabilities });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
  return client;
}

function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return client.callTool({ name, arguments: args }, { timeout: 600_000 }) as Promise<CallToolResult>;
}

const text = (result: CallToolResult): string => result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

/** After a refusal: nothing counted against the backend, which still serves the next call. */
async function circuitStaysClosed(gw: RunningGateway, client: Client): Promise<void> {
  expect(((await serverRow(gw, 'everything')) as unknown as { circuit: string }).circuit).toBe('closed');
  const echo = await call(client, 'everything__echo', { message: 'still here' });
  expect(text(echo)).toContain('still here');
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe('issue 19.5: sampling and elicitation toward an agent that cannot answer', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(config());
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'everything');
  });

  it("refuses a sampling request at once toward an agent without the sampling capability; the call ends with the backend's answer", async () => {
    const client = await agent(gw);
    const result = await call(client, 'everything__trigger-sampling-request', { prompt: 'hello' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("did not declare the 'sampling' client capability");
    await circuitStaysClosed(gw, client);
  });

  it('refuses an elicitation request at once toward an agent without the elicitation capability', async () => {
    const client = await agent(gw);
    const result = await call(client, 'everything__trigger-elicitation-request');
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("did not declare the 'elicitation' client capability");
    await circuitStaysClosed(gw, client);
  });

  it('refuses a URL-mode elicitation toward an agent that declared only form mode', async () => {
    const client = await agent(gw, { elicitation: { form: {} } });
    client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }));
    const result = await call(client, 'everything__trigger-url-elicitation', { url: 'https://example.com/consent' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("did not declare the 'elicitation.url' client capability");
    await circuitStaysClosed(gw, client);
  });

  it("refuses a gate_call's sampling request the same way", async () => {
    const client = await agent(gw);
    const result = await call(client, 'gate_call', { server: 'everything', tool: 'trigger-sampling-request', arguments: { prompt: 'hi' } });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("did not declare the 'sampling' client capability");
  });

  it('still forwards sampling to an agent that declared it, and returns its answer', async () => {
    const client = await agent(gw, { sampling: {} });
    client.setRequestHandler('sampling/createMessage', async () => ({
      role: 'assistant',
      content: { type: 'text', text: 'sampled-by-agent' },
      model: 'test-model',
    }));
    const result = await call(client, 'everything__trigger-sampling-request', { prompt: 'hello' });
    expect(result.isError).not.toBe(true);
    expect(text(result)).toContain('sampled-by-agent');
  });

  it('still forwards a URL-mode elicitation to an agent that declared it', async () => {
    const client = await agent(gw, { elicitation: { url: {} } });
    const seen: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      seen.push(String((request.params as { url?: string }).url));
      return { action: 'accept' };
    });
    const result = await call(client, 'everything__trigger-url-elicitation', { url: 'https://example.com/consent' });
    expect(result.isError).not.toBe(true);
    expect(seen).toEqual(['https://example.com/consent']);
  });

  it('declares to the backend what it can route, so no tool is missing from the catalog for want of a client capability', async () => {
    const client = await agent(gw);
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const tool of [
      'trigger-sampling-request',
      'trigger-elicitation-request',
      'trigger-url-elicitation',
      'trigger-sampling-request-async',
      'trigger-elicitation-request-async',
      'get-roots-list',
    ]) {
      expect(names).toContain(`everything__${tool}`);
    }
  });

  it("answers a backend's task-augmented sampling request with the agent's result", async () => {
    const client = await agent(gw, { sampling: {} });
    const asked: unknown[] = [];
    client.setRequestHandler('sampling/createMessage', async (request) => {
      asked.push(request.params.task);
      return { role: 'assistant', content: { type: 'text', text: 'async-sampled' }, model: 'test-model' };
    });
    const result = await call(client, 'everything__trigger-sampling-request-async', { prompt: 'hello' });
    expect(result.isError).not.toBe(true);
    expect(text(result)).toContain('[SYNC]');
    expect(text(result)).toContain('async-sampled');
    // The agent got a plain request: it did not declare tasks for sampling.
    expect(asked).toEqual([undefined]);
  });

  it("answers a backend's task-augmented elicitation request with the agent's result", async () => {
    const client = await agent(gw, { elicitation: {} });
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
    const result = await call(client, 'everything__trigger-elicitation-request-async');
    expect(result.isError).not.toBe(true);
    expect(text(result)).toContain('[SYNC]');
    expect(text(result)).toContain('Ada');
  });

  it('refuses sampling during a REST call at once (no agent to ask)', async () => {
    const res = await gw.request('POST', '/call', { server: 'everything', tool: 'trigger-sampling-request', arguments: { prompt: 'hello' } });
    expect(res.status).toBe(200);
    expect((res.body.result as CallToolResult).isError).toBe(true);
    expect(text(res.body.result as CallToolResult)).toContain('without an MCP session (REST POST /call or an async call)');
    expect(((await serverRow(gw, 'everything')) as unknown as { circuit: string }).circuit).toBe('closed');
  });
});

describe('issue 19.5 with [gateway] mcp_sessions = "stateless"', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(config('mcp_sessions = "stateless"'));
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'everything');
  });

  it('refuses a sampling request at once: a stateless POST cannot take requests, whatever the agent declared', async () => {
    const client = await agent(gw, { sampling: {} });
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: 'never' }, model: 'test-model' }));
    const result = await call(client, 'everything__trigger-sampling-request', { prompt: 'hello' });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('no MCP session that can take requests');
    await circuitStaysClosed(gw, client);
  });
});
