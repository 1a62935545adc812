import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #20, item 6: one place owns the timeout of every request the gateway
// sends a backend (tools, resources, prompts, completions), and a TIMEOUT
// error quotes the limit really applied and the setting that gave it.
//
// request_timeout is 300 ms; each test's own timeout (20 s) is far above it
// and far below the SDK's 60 s default, so a request left to the SDK's timer
// fails the test instead of passing slowly.

const TEST_TIMEOUT = 20_000;
const CONFIG = `
[gateway]
request_timeout = 300
max_request_timeout = 900

[dispatch]
async_timeout = 400

[[backends]]
name = "reads"
command = "node"
args = [${q(fixture('hang-reads-server'))}]

[[backends]]
name = "hang"
command = "node"
args = [${q(fixture('hang-server'))}]

${demoBackend()}
`;

let gw: RunningGateway;
const clients: Client[] = [];

async function mcpClient(path: string): Promise<Client> {
  const client = new Client({ name: 'timeout-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  return client;
}

/** The message a rejected MCP request carried. */
async function failure(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the request was answered');
}

/** The SDK's timer on the client side, far above the gateway's. */
const FAR = { timeout: 120_000 };

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  for (const name of ['reads', 'hang', 'demo']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe('issue 20.6: request_timeout reaches resources, prompts and completions', () => {
  it(
    'ends resources/read at request_timeout and quotes it',
    async () => {
      const client = await mcpClient('/mcp/reads');
      const message = await failure(client.readResource({ uri: 'hang://forever' }, FAR));
      expect(message).toMatch(/TIMEOUT/);
      expect(message).toMatch(/Backend 'reads' did not answer resources\/read within 300 ms/);
    },
    TEST_TIMEOUT,
  );

  it(
    'ends prompts/get at request_timeout and quotes it',
    async () => {
      const client = await mcpClient('/mcp/reads');
      const message = await failure(client.getPrompt({ name: 'hang', arguments: { topic: 'x' } }, FAR));
      expect(message).toMatch(/Backend 'reads' did not answer prompts\/get within 300 ms/);
    },
    TEST_TIMEOUT,
  );

  it(
    'ends completion/complete at request_timeout and quotes it',
    async () => {
      const client = await mcpClient('/mcp/reads');
      const message = await failure(client.complete({ ref: { type: 'ref/prompt', name: 'hang' }, argument: { name: 'topic', value: 'x' } }, FAR));
      expect(message).toMatch(/Backend 'reads' did not answer completion\/complete within 300 ms/);
    },
    TEST_TIMEOUT,
  );

  it(
    'quotes max_request_timeout when it ends a call that progress kept extending',
    async () => {
      const client = await mcpClient('/mcp');
      const progress: number[] = [];
      const result = (await client.callTool(
        { name: 'demo__sleep', arguments: { ms: 600_000 } },
        {
          ...FAR,
          onprogress: (p) => progress.push(p.progress),
        },
      )) as CallToolResult;
      expect(progress.length).toBeGreaterThan(0);
      expect(result.isError).toBe(true);
      const text = (result.content[0] as { text: string }).text;
      expect(text).toMatch(/^TIMEOUT: Backend 'demo' did not answer sleep within 900 ms, the limit even with progress \(\[gateway\] max_request_timeout/);
    },
    TEST_TIMEOUT,
  );

  it(
    'quotes async_timeout when it ends an async call',
    async () => {
      const submitted = await gw.request('POST', '/call/async', { server: 'hang', tool: 'hang', arguments: {} });
      expect(submitted.status).toBe(202);
      const done = await gw.request('GET', `/call/${submitted.body.call_id as string}?wait_ms=10000`);
      expect(done.body.status).toBe('failed');
      expect(JSON.stringify(done.body.error)).toMatch(/TIMEOUT/);
      expect(JSON.stringify(done.body.error)).toMatch(
        /did not answer hang within 400 ms \(\[dispatch\] async_timeout\); it was sent notifications\/cancelled. Raise \[dispatch\] async_timeout/,
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'still quotes the backend timeout for a plain call',
    async () => {
      const res = await gw.request('POST', '/call', { server: 'hang', tool: 'hang', arguments: {} });
      expect(res.status).toBe(504);
      expect(res.body.error).toMatch(/^Backend 'hang' did not answer hang within 300 ms; it was sent notifications\/cancelled. Raise the backend's timeout/);
    },
    TEST_TIMEOUT,
  );
});
