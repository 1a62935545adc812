import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30 item 3 (backend side): a plain tools/call on a negotiated 2025
// stdio link is sent without the SDK client's Protocol
// (src/supervisor/lean-calls.ts), with ids of its own (strings, "sg…");
// a call that asks for progress still goes through the SDK (its numeric
// ids). Every failure reads as it did through the SDK: a malformed answer,
// a line over max_line_bytes, a child that dies mid-call, a timeout and a
// cancel — the last two reach the backend as notifications/cancelled for
// the id it was sent.

const CONFIG = `
[gateway]
request_timeout = 400

[supervisor]
max_line_bytes = 65536
restart_backoff_min = 50
restart_backoff_max = 200

[[backends]]
name = "probe"
command = "node"
args = [${q(fixture('lean-probe-server'))}]
`;

let gw: RunningGateway;
const clients: Client[] = [];

async function mcpClient(): Promise<Client> {
  const client = new Client({ name: 'lean-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
  return client;
}

const call = (tool: string, args: Record<string, unknown> = {}) => gw.request('POST', '/call', { server: 'probe', tool, arguments: args });

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'probe');
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
});
afterAll(stopAll);

describe('#30 the lean tools/call path', () => {
  it('sends a plain call with an id of its own, and one that asks for progress through the SDK client', async () => {
    const rest = await call('id');
    expect(rest.status).toBe(200);
    const plain = JSON.parse(resultText(rest.body)) as { id: unknown; progress: boolean };
    expect(plain.id).toMatch(/^sg\d+$/);
    expect(plain.progress).toBe(false);

    const client = await mcpClient();
    const viaMcp = await client.callTool({ name: 'probe__id', arguments: {} });
    expect(JSON.parse((viaMcp.content as { text: string }[])[0]?.text ?? '')).toMatchObject({ id: expect.stringMatching(/^sg\d+$/) });

    const progress: number[] = [];
    const withProgress = await client.callTool({ name: 'probe__id', arguments: {} }, { onprogress: (p) => progress.push(p.progress) });
    const sdk = JSON.parse((withProgress.content as { text: string }[])[0]?.text ?? '') as { id: unknown; progress: boolean };
    expect(typeof sdk.id).toBe('number');
    expect(sdk.progress).toBe(true);
    expect(progress).toEqual([1]);
  });

  it('cancels a lean call at the backend when the caller cancels, and on the gateway deadline', async () => {
    const client = await mcpClient();
    const controller = new AbortController();
    const waiting = client.callTool({ name: 'probe__wait', arguments: {} }, { signal: controller.signal });
    const started = gw.waitForLog((l) => l.backend === 'probe' && /^lean-probe: cancelled "sg\d+"/.test(l.msg));
    // The backend has the call once the gateway's pool shows it in flight.
    await eventually(async () => ((await serverRow(gw, 'probe')).pool as { inflight?: number }).inflight === 1);
    controller.abort('test cancels');
    await expect(waiting).rejects.toThrow();
    await started;

    const timedOut = await call('wait');
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.code).toBe('TIMEOUT');
    expect(timedOut.body.error).toMatch(/did not answer wait within 400 ms/);
    const cancelled = await gw.waitForLog((l) => l.backend === 'probe' && /^lean-probe: cancelled "sg\d+" \(.*gateway deadline/.test(l.msg));
    expect(cancelled.msg).toMatch(/Request timed out/);
  });

  it("fails a malformed answer as the backend's error and keeps the link", async () => {
    const pid = (await serverRow(gw, 'probe')).pid;
    const bad = await call('malformed');
    expect(bad.status).toBe(502);
    expect(bad.body.code).toBe('BACKEND_ERROR');
    expect(bad.body.error).toMatch(/malformed JSON-RPC response \("result" is a string, not an object\)/);
    expect((await call('id')).status).toBe(200);
    expect((await serverRow(gw, 'probe')).pid).toBe(pid);
  });

  it('fails the call at once when the answer is a line over max_line_bytes or the child dies mid-call, and serves the next one', async () => {
    const huge = await call('huge', { bytes: 100_000 });
    expect(huge.status).toBe(503);
    expect(huge.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(huge.body.error).toMatch(/wrote a line over 65536 bytes on stdout \(max_line_bytes\)/);
    await eventually(async () => (await call('id')).status === 200);

    const died = await call('die');
    expect(died.status).toBe(503);
    expect(died.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(died.body.error).toMatch(/exited with code 3 during die/);
    await eventually(async () => (await call('id')).status === 200);
    const fine = await call('huge', { bytes: 1_000 });
    expect(resultText(fine.body)).toHaveLength(1_000);
  });
});
