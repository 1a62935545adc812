import { type ChildProcess, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type OtlpReceiver, type ReceivedSpan, startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel]: OpenTelemetry traces through an in-test OTLP/HTTP
 * receiver; W3C trace context in and out (#25 item 4: with tracing on, the
 * gateway's own client span replaces the caller's context toward backends;
 * with it off, an HTTP traceparent and an async call's submitter's context
 * pass on verbatim).
 */

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`;
const SERVER = 2;
const CLIENT = 3;

let recorder: ChildProcess;
let recorderBase: string;
const clients: Client[] = [];

beforeAll(async () => {
  recorder = spawn(process.execPath, [fixture('recording-modern-server'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: recorder.stdout! }).once('line', resolve);
    recorder.once('exit', (code) => reject(new Error(`recording fixture exited (${code}) before listening`)));
  });
  recorderBase = `http://127.0.0.1:${Number(/^listening (\d+)$/.exec(line)?.[1])}`;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});
afterAll(async () => {
  if (recorder.exitCode === null) {
    const exited = new Promise((resolve) => recorder.once('exit', resolve));
    recorder.kill();
    await exited;
  }
});

/** The gateway's config: a stdio backend that echoes its `_meta`, the recording HTTP backend, and [telemetry]. */
function config(telemetry: string): string {
  return `
[[backends]]
name = "echo"
command = "node"
args = [${q(fixture('meta-echo-server'))}]

[[backends]]
name = "rec"
transport = "http"
url = "${recorderBase}/mcp"
protocol = "2025-11-25"

[telemetry]
${telemetry}
`;
}

/** Exports come every 50 ms instead of every 5 s (the standard OTEL_BSP_SCHEDULE_DELAY). */
const FAST = { OTEL_BSP_SCHEDULE_DELAY: '50' };

async function gateway(telemetry: string, env: Record<string, string> = FAST, args: string[] = []): Promise<RunningGateway> {
  const gw = await startGateway(config(telemetry), { env, args });
  for (const name of ['echo', 'rec']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  return gw;
}

async function post(gw: RunningGateway, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const response = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

const firstText = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';
const echoedMeta = (body: Record<string, unknown>): Record<string, string> => JSON.parse(firstText(body.result)) as Record<string, string>;

async function seenByRecorder(): Promise<{ headers: Record<string, string>; body: { method?: string; params?: { _meta?: Record<string, string> } } }[]> {
  return (await (await fetch(`${recorderBase}/seen`)).json()) as never;
}

/** Waits for a span of `trace` that matches. */
function span(receiver: OtlpReceiver, match: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
  return eventually(() => receiver.spans.find(match));
}

describe('[otel] tracing on (http/json)', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('a REST call with a traceparent: HTTP server span, which is the call’s span too → client span, in the caller’s trace; the stdio backend continues from the client span', async () => {
    const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"\nservice_name = "gw-under-test"`, FAST, [
      '--log-level',
      'debug',
    ]);
    const body = await post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, { traceparent: TRACEPARENT, tracestate: 'vendor=x' });
    const meta = echoedMeta(body);
    const http = await span(receiver, (s) => s.traceId === TRACE_ID && s.kind === SERVER && s.attributes['http.route'] === '/call');
    expect(http).toMatchObject({ parentSpanId: PARENT, name: 'POST /call', service: 'gw-under-test' });
    expect(http.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 200 });
    // The request is that one call: its span is the call's too (no execute_tool span under it).
    const call = http;
    expect(receiver.spans.filter((s) => s.traceId === TRACE_ID && s.name.startsWith('execute_tool'))).toEqual([]);
    expect(call.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo_meta',
      'stonegate.server': 'echo',
      'stonegate.exposed_name': 'echo__echo_meta',
      'stonegate.outcome': 'success',
      'stonegate.attempt': 1,
      'stonegate.breaker_state': 'closed',
    });
    const client = await span(receiver, (s) => s.traceId === TRACE_ID && s.kind === CLIENT);
    expect(client).toMatchObject({ parentSpanId: call.spanId, name: 'tools/call echo_meta' });
    expect(client.attributes).toMatchObject({ 'mcp.method.name': 'tools/call', 'network.transport': 'pipe', 'stonegate.server': 'echo' });
    // The backend got the gateway's client span as its parent, in the caller's trace, its tracestate kept.
    expect(meta.traceparent).toBe(`00-${TRACE_ID}-${client.spanId}-01`);
    expect(meta.tracestate).toBe('vendor=x');
    // The call's JSON log lines name the trace, so logs and traces join.
    const finished = await gw.waitForLog((l) => l.msg === 'call finished' && l.tool === 'echo_meta');
    expect(finished.trace_id).toBe(TRACE_ID);
  });

  it('an MCP tools/call with _meta.traceparent: the MCP server span is its child and the routed call’s span too, and the HTTP backend gets the client span as header and in _meta', async () => {
    const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"`);
    const mcp = new Client({ name: 'otel-test-agent', version: '1' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    clients.push(mcp);
    const traceId = 'aaaabbbbccccddddeeeeffff00001111';
    await mcp.callTool({ name: 'rec__echo_meta', arguments: {}, _meta: { traceparent: `00-${traceId}-${PARENT}-01` } });
    const method = await span(receiver, (s) => s.traceId === traceId && s.attributes['mcp.method.name'] === 'tools/call' && s.kind === SERVER);
    expect(method).toMatchObject({ parentSpanId: PARENT, name: 'tools/call rec__echo_meta' });
    expect(method.attributes).toMatchObject({ 'gen_ai.tool.name': 'rec__echo_meta', 'stonegate.client.name': 'otel-test-agent' });
    expect(typeof method.attributes['mcp.session.id']).toBe('string');
    // The MCP semantic conventions: a tools/call span is the tool execution span, so the routed call adds its attributes to it.
    expect(method.attributes).toMatchObject({ 'stonegate.server': 'rec', 'stonegate.outcome': 'success' });
    // The exposed name the client called is gen_ai.tool.name (docs/tracing.md): not repeated as stonegate.exposed_name.
    expect(method.attributes['stonegate.exposed_name']).toBeUndefined();
    const client = await span(receiver, (s) => s.traceId === traceId && s.kind === CLIENT);
    expect(client.parentSpanId).toBe(method.spanId);
    expect(receiver.spans.filter((s) => s.traceId === traceId && s.name.startsWith('execute_tool'))).toEqual([]);
    expect(client.attributes).toMatchObject({ 'network.transport': 'tcp', 'server.address': '127.0.0.1' });
    const request = await eventually(async () =>
      (await seenByRecorder()).find((s) => s.body.method === 'tools/call' && s.body.params?._meta?.traceparent?.includes(traceId) === true),
    );
    expect(request.body.params?._meta?.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
    expect(request.headers.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
    // resources/read: a client span too, whose context the backend gets (in _meta and as headers).
    const readTrace = '99998888777766665555444433332222';
    await mcp.readResource(
      { uri: 'stonegate://rec/rec://note', _meta: { traceparent: `00-${readTrace}-${PARENT}-01`, baggage: 'k=v' } },
      { cacheMode: 'bypass' },
    );
    const read = await span(receiver, (s) => s.traceId === readTrace && s.kind === SERVER);
    expect(read).toMatchObject({ name: 'resources/read', parentSpanId: PARENT });
    expect(read.attributes['mcp.resource.uri']).toBe('stonegate://rec/rec://note');
    const readClient = await span(receiver, (s) => s.traceId === readTrace && s.kind === CLIENT);
    expect(readClient).toMatchObject({ name: 'resources/read', parentSpanId: read.spanId });
    const readRequest = await eventually(async () =>
      (await seenByRecorder()).find((s) => s.body.method === 'resources/read' && s.body.params?._meta?.traceparent?.includes(readTrace) === true),
    );
    expect(readRequest.body.params?._meta).toMatchObject({ traceparent: `00-${readTrace}-${readClient.spanId}-01`, baggage: 'k=v' });
    expect(readRequest.headers.traceparent).toBe(`00-${readTrace}-${readClient.spanId}-01`);
  });

  it('an async call: its span is a trace of its own linked to the submitting request; its polls make no spans', async () => {
    const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"`);
    const traceId = '1234567890abcdef1234567890abcdef';
    const submitted = await post(
      gw,
      '/call/async',
      { server: 'echo', tool: 'echo_meta_later', arguments: { ms: 50 } },
      { traceparent: `00-${traceId}-${PARENT}-01` },
    );
    const done = await fetch(`${gw.url}/call/${String(submitted.call_id)}?wait_ms=5000`);
    const meta = JSON.parse(firstText(((await done.json()) as { result: unknown }).result)) as Record<string, string>;
    const submit = await span(receiver, (s) => s.traceId === traceId && s.attributes['http.route'] === '/call/async');
    const call = await span(receiver, (s) => s.name === 'execute_tool echo_meta_later');
    expect(call.traceId).not.toBe(traceId);
    expect(call.parentSpanId).toBe('');
    expect(call.links).toEqual([{ traceId, spanId: submit.spanId }]);
    expect(call.attributes['stonegate.async']).toBe(true);
    const client = await span(receiver, (s) => s.traceId === call.traceId && s.kind === CLIENT);
    expect(meta.traceparent).toBe(`00-${call.traceId}-${client.spanId}-01`);
    // The wait on GET /call/{id} is no span of its own.
    expect(receiver.spans.filter((s) => s.attributes['http.route'] === '/call/:id')).toEqual([]);
  });
});

describe('[otel] tracing on (http/protobuf, the default protocol)', () => {
  it('exports protobuf the receiver decodes: the REST call’s spans in the caller’s trace', async () => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}`);
      await post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, { traceparent: TRACEPARENT });
      const call = await span(receiver, (s) => s.traceId === TRACE_ID && s.name === 'POST /call');
      expect(call).toMatchObject({ kind: SERVER, parentSpanId: PARENT, service: 'stonegate' });
      expect(call.attributes).toMatchObject({ 'stonegate.server': 'echo', 'gen_ai.tool.name': 'echo_meta', 'http.response.status_code': 200 });
      const client = await span(receiver, (s) => s.traceId === TRACE_ID && s.kind === CLIENT);
      expect(client.parentSpanId).toBe(call.spanId);
    } finally {
      await receiver.close();
    }
  });
});

describe('[otel] tracing off', () => {
  it('sends nothing, and passes the caller’s trace context on verbatim: REST headers (to stdio in _meta, to HTTP as headers too) and async calls', async () => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(`enabled = false\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"`, {
        ...FAST,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      });
      const incoming = { traceparent: TRACEPARENT, tracestate: 'vendor=off' };
      expect(echoedMeta(await post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, incoming))).toMatchObject(incoming);
      await post(gw, '/call', { server: 'rec', tool: 'echo_meta' }, incoming);
      const request = await eventually(async () => (await seenByRecorder()).find((s) => s.body.params?._meta?.tracestate === 'vendor=off'));
      expect(request.body.params?._meta).toMatchObject(incoming);
      expect(request.headers).toMatchObject(incoming);
      // An async call keeps its submitter's context.
      const submitted = await post(gw, '/call/async', { server: 'echo', tool: 'echo_meta_later', arguments: { ms: 0 } }, incoming);
      const done = (await (await fetch(`${gw.url}/call/${String(submitted.call_id)}?wait_ms=5000`)).json()) as { result: unknown };
      expect(JSON.parse(firstText(done.result))).toMatchObject(incoming);
      // A malformed HTTP traceparent is not passed on; a `_meta` one that is no valid header value stays in `_meta` only.
      expect(echoedMeta(await post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, { traceparent: 'not-a-trace' }))).not.toHaveProperty('traceparent');
      const mcp = new Client({ name: 'otel-off', version: '1' });
      await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
      clients.push(mcp);
      const odd = { traceparent: 'odd\r\nx-injected: 1', tracestate: 'm=odd' };
      const answer = await mcp.callTool({ name: 'rec__echo_meta', arguments: {}, _meta: odd });
      expect(JSON.parse(firstText(answer))).toMatchObject(odd);
      const oddRequest = await eventually(async () => (await seenByRecorder()).find((s) => s.body.params?._meta?.tracestate === 'm=odd'));
      expect(oddRequest.headers).not.toHaveProperty('traceparent');
      expect(oddRequest.headers).not.toHaveProperty('x-injected');
      // Stopped: a running tracer would have flushed what it held by now.
      await gw.stop();
      expect(receiver.requests).toBe(0);
      expect(gw.logs.some((l) => String(l.msg).includes('[telemetry]'))).toBe(false);
    } finally {
      await receiver.close();
    }
  });
});

describe('[otel] a collector that never answers', () => {
  let dead: Server;
  const sockets: Socket[] = [];
  let connected: Promise<void>;
  beforeAll(async () => {
    let reached: () => void = () => undefined;
    connected = new Promise<void>((resolve) => (reached = resolve));
    // Accepts the connection and reads, never answers.
    dead = createServer((socket) => {
      sockets.push(socket);
      socket.resume();
      reached();
    });
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => dead.close(() => resolve()));
  });

  it('does not slow or fail calls: they complete while the export hangs, and the spans it cannot take are counted as dropped', async () => {
    const url = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    const gw = await gateway(`enabled = true\notlp_endpoint = ${q(url)}\nprotocol = "http/json"\nmax_queue_size = 4`);
    await post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, { traceparent: TRACEPARENT });
    await connected; // the exporter reached the collector, which holds its request unanswered
    const results = await Promise.all(Array.from({ length: 20 }, () => post(gw, '/call', { server: 'echo', tool: 'echo_meta' }, { traceparent: TRACEPARENT })));
    for (const body of results) expect(echoedMeta(body).traceparent).toContain(TRACE_ID);
    const dropped = await eventually(async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const value = Number(/^stonegate_trace_spans_dropped_total (\d+)/m.exec(text)?.[1] ?? 0);
      return value > 0 ? value : undefined;
    });
    expect(dropped).toBeGreaterThan(0);
  });
});

describe('[otel] with tokens and coordination', () => {
  const TOKEN = 'otel-test-token-0123456789abcdef';
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('a refused request is a 401 span and nothing more; no span holds the token or a raw session id; coordination send and poll wake are spans', async () => {
    const toml = `${config(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"`)}
[[auth.tokens]]
name = "alice"
token = "\${OTEL_ALICE}"

[coordination]
enabled = true
`;
    const gw = await startGateway(toml, { env: { ...FAST, OTEL_ALICE: TOKEN } });
    for (const name of ['echo', 'rec', 'coord']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
    const refusedTrace = 'cccccccccccccccccccccccccccccccc';
    const refused = await fetch(`${gw.url}/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${refusedTrace}-${PARENT}-01` },
      body: JSON.stringify({ server: 'echo', tool: 'echo_meta' }),
    });
    expect(refused.status).toBe(401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    await post(gw, '/coord/agent/register', { agent_id: 'alice', role: 'dev' }, auth);
    const sendTrace = 'dddddddddddddddddddddddddddddddd';
    const sent = await post(gw, '/coord/msg/send', { from: 'alice', to: 'alice', content: 'traced' }, { ...auth, traceparent: `00-${sendTrace}-${PARENT}-01` });
    expect(sent).not.toHaveProperty('error');
    const pollTrace = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const polled = await fetch(`${gw.url}/coord/msg/poll?agent_id=alice&timeout=0&after=0`, {
      headers: { ...auth, traceparent: `00-${pollTrace}-${PARENT}-01` },
    });
    expect(polled.status).toBe(200);
    const mcp = new Client({ name: 'otel-auth', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: auth } });
    await mcp.connect(transport);
    clients.push(mcp);
    await mcp.callTool({ name: 'echo__echo_meta', arguments: {}, _meta: { traceparent: TRACEPARENT } });

    const refusedSpan = await span(receiver, (s) => s.traceId === refusedTrace);
    expect(refusedSpan.attributes).toMatchObject({ 'http.response.status_code': 401, 'error.type': '401' });
    const send = await span(receiver, (s) => s.traceId === sendTrace);
    expect(send).toMatchObject({ kind: SERVER, name: 'POST /coord/msg/send', parentSpanId: PARENT });
    const wake = await span(receiver, (s) => s.traceId === pollTrace);
    expect(wake.name).toBe('poll wake /coord/msg/poll');
    expect(typeof wake.attributes['stonegate.wait_ms']).toBe('number');
    const method = await span(receiver, (s) => s.traceId === TRACE_ID && s.kind === SERVER && s.attributes['mcp.method.name'] === 'tools/call');
    expect(String(method.attributes['mcp.session.id'])).toMatch(/^[0-9a-f]{16}$/);
    expect(method.attributes['mcp.session.id']).not.toBe(transport.sessionId);
    await gw.stop();
    expect(receiver.spans.filter((s) => s.traceId === refusedTrace)).toHaveLength(1);
    const everything = JSON.stringify(receiver.spans);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(String(transport.sessionId));
  });
});
