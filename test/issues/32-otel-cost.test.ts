import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], the cost of tracing: an unsampled request makes nothing
 * (no span, no ids: its caller's context goes on verbatim, as with tracing
 * off), and the active span is carried explicitly — no AsyncLocalStorage,
 * whose promise hooks cost every promise on Node 20.
 */

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

/** A gateway with one stdio backend that echoes the `_meta` it gets, and [telemetry]. */
async function gateway(telemetry: string, env: Record<string, string> = {}): Promise<RunningGateway> {
  const gw = await startGateway(`[[backends]]\nname = "echo"\ncommand = "node"\nargs = [${q(fixture('meta-echo-server'))}]\n\n[telemetry]\n${telemetry}\n`, {
    env: { OTEL_BSP_SCHEDULE_DELAY: '50', ...env },
  });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'echo');
  return gw;
}

/** The `_meta` the backend got with a REST call. */
async function restMeta(gw: RunningGateway, headers: Record<string, string>): Promise<Record<string, unknown>> {
  const response = await fetch(`${gw.url}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ server: 'echo', tool: 'echo_meta' }),
  });
  const body = (await response.json()) as { result: { content: { text: string }[] } };
  return JSON.parse(body.result.content[0]?.text ?? '{}') as Record<string, unknown>;
}

async function mcpClient(gw: RunningGateway): Promise<Client> {
  const mcp = new Client({ name: 'otel-cost', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
  clients.push(mcp);
  return mcp;
}

describe('[otel] sample_ratio 0', () => {
  it('exports nothing of an unsampled request and passes its caller’s context on verbatim; a sampled caller’s trace is still recorded', async () => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"\nsample_ratio = 0`);
      // A caller's unsampled context (flags 00): REST headers and MCP _meta reach the backend as they were sent.
      const unsampled = { traceparent: `00-${TRACE_ID}-${PARENT}-00`, tracestate: 'vendor=zero' };
      expect(await restMeta(gw, unsampled)).toMatchObject(unsampled);
      const mcp = await mcpClient(gw);
      const answer = await mcp.callTool({ name: 'echo__echo_meta', arguments: {}, _meta: unsampled });
      expect(JSON.parse((answer.content as { text: string }[])[0]?.text ?? '{}')).toMatchObject(unsampled);
      // Without a caller's context, a new trace at ratio 0 is not sampled: nothing is sent on.
      expect(await restMeta(gw, {})).not.toHaveProperty('traceparent');
      // A caller's sampled context (flags 01) is recorded at any ratio (the parent-based rule): the gateway's client span goes on.
      const sampledTrace = 'ffffeeeeddddccccbbbbaaaa99998888';
      const sampledMeta = await restMeta(gw, { traceparent: `00-${sampledTrace}-${PARENT}-01` });
      const client = await eventually(() => receiver.spans.find((s) => s.traceId === sampledTrace && s.kind === 3));
      expect(sampledMeta.traceparent).toBe(`00-${sampledTrace}-${client.spanId}-01`);
      await gw.stop();
      // Everything exported belongs to the sampled trace.
      expect(receiver.spans.length).toBeGreaterThan(0);
      expect(receiver.spans.filter((s) => s.traceId !== sampledTrace)).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});

describe('[otel] no AsyncLocalStorage', () => {
  it('tracing on at ratio 1.0: REST and MCP calls are traced, parented across HTTP/MCP → call, and no AsyncLocalStorage is put to use', async () => {
    const receiver = await startReceiver();
    const log = join(mkdtempSync(join(tmpdir(), 'stonegate-als-')), 'als.log');
    try {
      const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"\nsample_ratio = 1.0`, {
        NODE_OPTIONS: `--import ${fixture('als-watch')}`,
        STONEGATE_ALS_LOG: log,
      });
      await restMeta(gw, { traceparent: `00-${TRACE_ID}-${PARENT}-01` });
      const mcp = await mcpClient(gw);
      // No _meta context: the MCP span is the HTTP request's span too and the routed call's (32-otel-one-span), the client span its child.
      await mcp.callTool({ name: 'echo__echo_meta', arguments: {} });
      const method = await eventually(() => receiver.spans.find((s) => s.kind === 2 && s.attributes['mcp.method.name'] === 'tools/call'));
      expect(method.attributes).toMatchObject({ 'http.route': '/mcp', 'http.request.method': 'POST', 'stonegate.outcome': 'success' });
      const client = await eventually(() => receiver.spans.find((s) => s.traceId === method.traceId && s.kind === 3));
      expect(client.parentSpanId).toBe(method.spanId);
      await eventually(() => receiver.spans.find((s) => s.traceId === TRACE_ID && s.name === 'POST /call' && s.attributes['stonegate.outcome'] === 'success'));
      await gw.stop();
      expect(existsSync(log)).toBe(true);
      expect(readFileSync(log, 'utf8')).toBe('armed\n');
    } finally {
      await receiver.close();
    }
  });
});
