import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, eventually, fixture, type RunningGateway, resultText, startGateway, stopAll } from '../helpers/harness.js';
import { postListen } from '../helpers/listen.js';

/*
 * Issue #25 items 2 and 4. Item 2, subscriptions/listen: a backend's list
 * changes (a 2025 backend's notifications, a 2026-07-28 backend's own listen
 * stream) and resource updates reach a 2026-07-28 client's listen stream,
 * tagged with its subscription id; a backend added at runtime is announced
 * there too; progress and log messages stay on the stream of their request.
 * Item 4, what goes upstream: toward a 2026-07-28 HTTP backend `Mcp-Name`
 * names the backend's own tool, resource or prompt, a tool's `x-mcp-header`
 * arguments go as `Mcp-Param-*` headers, and the caller's W3C trace context
 * in `_meta` reaches a backend of either era verbatim. The recording fixture
 * (test/fixtures/recording-modern-server.ts) says what it got on the wire.
 */

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const V = '2026-07-28';

interface Seen {
  headers: Record<string, string>;
  body: { method?: string; params?: Record<string, unknown> & { _meta?: Record<string, unknown> } };
}

let gw: RunningGateway;
let recorder: ChildProcess;
let recorderBase: string;
const clients: Client[] = [];

async function startRecorder(port = 0): Promise<string> {
  recorder = spawn(process.execPath, [fixture('recording-modern-server'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: recorder.stdout! }).once('line', resolve);
    recorder.once('exit', (code) => reject(new Error(`recording fixture exited (${code}) before listening`)));
  });
  return `http://127.0.0.1:${Number(/^listening (\d+)$/.exec(line)?.[1])}`;
}

beforeAll(async () => {
  recorderBase = await startRecorder();
  gw = await startGateway(`
[[backends]]
name = "rec"
transport = "http"
url = "${recorderBase}/mcp"
protocol = "2026-07-28"

[[backends]]
name = "old"
transport = "http"
url = "${recorderBase}/mcp"
protocol = "2025-11-25"
`);
  for (const name of ['rec', 'old']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  await stopAll();
  if (recorder.exitCode === null) {
    const exited = new Promise((resolve) => recorder.once('exit', resolve));
    recorder.kill();
    await exited;
  }
});

async function connect(era: 'modern' | 'legacy', path = '/mcp'): Promise<Client> {
  const client = new Client({ name: `hdr-${era}`, version: '1' }, era === 'modern' ? { versionNegotiation: { mode: { pin: V } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  clients.push(client);
  return client;
}

/** What the recording backend has received so far. */
async function seen(): Promise<Seen[]> {
  return (await (await fetch(`${recorderBase}/seen`)).json()) as Seen[];
}

/** The one request the backend got that `match` picks. */
async function received(match: (s: Seen) => boolean): Promise<Seen> {
  const found = (await seen()).filter(match);
  expect(found).toHaveLength(1);
  return found[0] as Seen;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

/** The next notification of `method` a client hears (with its params). */
function next(client: Client, method: 'notifications/tools/list_changed' | 'notifications/resources/updated'): Promise<Record<string, unknown>> {
  return new Promise((resolve) => client.setNotificationHandler(method, async (n) => resolve((n.params ?? {}) as Record<string, unknown>)));
}

/** A raw subscriptions/listen POST on /mcp: its SSE frames, one parsed message each, as they come. */
async function rawListen(
  filter: Record<string, unknown>,
): Promise<{ frames: Record<string, unknown>[]; until: (m: (f: Record<string, unknown>) => boolean) => Promise<void>; close: () => void }> {
  const { response, abort } = await postListen(gw.url, filter);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const frames: Record<string, unknown>[] = [];
  const waiting = new Set<{ match: (f: Record<string, unknown>) => boolean; resolve: () => void }>();
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('');
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        if (data === '') continue;
        const frame = JSON.parse(data) as Record<string, unknown>;
        frames.push(frame);
        for (const w of waiting) {
          if (!w.match(frame)) continue;
          waiting.delete(w);
          w.resolve();
        }
      }
    }
  })();
  const until = (match: (f: Record<string, unknown>) => boolean): Promise<void> =>
    frames.some(match) ? Promise.resolve() : new Promise<void>((resolve) => waiting.add({ match, resolve }));
  return { frames, until, close: abort };
}

describe('issue 25 item 2: subscriptions/listen', () => {
  it('list_changed over subscriptions/listen after /server/add: the stream hears tools list_changed (tagged), then tools/list shows the new tools; after /server/remove too', async () => {
    const client = await connect('modern');
    const subscription = await client.listen({ toolsListChanged: true });
    const changed = next(client, 'notifications/tools/list_changed');
    const added = await gw.request('POST', '/server/add', { name: 'late', command: 'node', args: [DEMO] });
    expect(added.status).toBe(200);
    const params = await changed;
    expect(params._meta).toMatchObject({ [SUBSCRIPTION_ID]: expect.anything() });
    const names = (await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name);
    expect(names).toContain('late__echo');
    // Removed at runtime: announced the same way.
    const gone = next(client, 'notifications/tools/list_changed');
    expect((await gw.request('POST', '/server/remove', { name: 'late' })).status).toBe(200);
    await gone;
    expect((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name)).not.toContain('late__echo');
    await subscription.close();
  });

  it("a 2026-07-28 backend's own tools list_changed (on the listen stream the gateway keeps open to it) reaches the stream; tools/list shows its new tool", async () => {
    const [client, legacy] = [await connect('modern'), await connect('legacy')];
    const subscription = await client.listen({ toolsListChanged: true });
    const [changed, legacyChanged] = [next(client, 'notifications/tools/list_changed'), next(legacy, 'notifications/tools/list_changed')];
    expect(text(await client.callTool({ name: 'rec__grow', arguments: {} }))).toMatch(/^grown_\d+ added$/);
    expect((await changed)._meta).toMatchObject({ [SUBSCRIPTION_ID]: expect.anything() });
    await legacyChanged;
    const names = (await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name);
    expect(names).toContain('rec__grown_1');
    await subscription.close();
  });

  it("a 2026-07-28 backend's prompts and resources list_changed reach the streams that asked for them, tagged", async () => {
    const client = await connect('modern');
    const subscription = await client.listen({ promptsListChanged: true, resourcesListChanged: true });
    const heard = ['notifications/prompts/list_changed', 'notifications/resources/list_changed'].map(
      (method) =>
        new Promise<Record<string, unknown>>((resolve) =>
          client.setNotificationHandler(method as 'notifications/prompts/list_changed', async (n) => resolve((n.params ?? {}) as Record<string, unknown>)),
        ),
    );
    await client.callTool({ name: 'rec__relist', arguments: {} });
    for (const params of await Promise.all(heard)) expect(params._meta).toMatchObject({ [SUBSCRIPTION_ID]: expect.anything() });
    await subscription.close();
  });

  it('a resource update of a 2026-07-28 backend reaches the streams (and 2025 sessions) that watch it, in their URL naming', async () => {
    const [all, single, legacy] = [await connect('modern'), await connect('modern', '/mcp/rec'), await connect('legacy')];
    const streams = [
      await all.listen({ resourceSubscriptions: ['stonegate://rec/rec://note'] }),
      await single.listen({ resourceSubscriptions: ['rec://note'] }),
    ];
    await legacy.subscribeResource({ uri: 'stonegate://rec/rec://note' });
    const heard = [
      next(all, 'notifications/resources/updated'),
      next(single, 'notifications/resources/updated'),
      next(legacy, 'notifications/resources/updated'),
    ];
    await all.callTool({ name: 'rec__touch', arguments: {} });
    const [onAll, onSingle, onLegacy] = await Promise.all(heard);
    expect(onAll).toMatchObject({ uri: 'stonegate://rec/rec://note', _meta: { [SUBSCRIPTION_ID]: expect.anything() } });
    expect(onSingle).toMatchObject({ uri: 'rec://note', _meta: { [SUBSCRIPTION_ID]: expect.anything() } });
    expect(onLegacy).toMatchObject({ uri: 'stonegate://rec/rec://note' });
    // The backend was subscribed once, with a listen stream of the gateway's naming the URI; nothing watches it any more: the stream is cancelled.
    const opened = (await seen()).filter(
      (s) =>
        s.body.method === 'subscriptions/listen' && JSON.stringify(s.body.params?.notifications) === JSON.stringify({ resourceSubscriptions: ['rec://note'] }),
    );
    expect(opened).toHaveLength(1);
    await Promise.all(streams.map((s) => s.close()));
    await legacy.unsubscribeResource({ uri: 'stonegate://rec/rec://note' });
    const id = (opened[0]?.body as { id?: unknown } | undefined)?.id;
    await eventually(async () => (await seen()).some((s) => s.body.method === 'notifications/cancelled' && s.body.params?.requestId === id));
  });

  it("progress and log messages of a call stay on that call's stream; the listen stream hears only its acknowledgement and list changes", async () => {
    const listen = await rawListen({ toolsListChanged: true });
    await listen.until((f) => f.method === 'notifications/subscriptions/acknowledged');
    const client = await connect('modern');
    const progress: number[] = [];
    const logs: string[] = [];
    client.setNotificationHandler('notifications/message', async (n) => {
      logs.push(String(n.params.data));
    });
    // From a backend of each era.
    for (const backend of ['rec', 'old']) {
      const result = await client.callTool(
        { name: `${backend}__chatty`, arguments: {}, _meta: { 'io.modelcontextprotocol/logLevel': 'info' } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(result)).toBe('chatty done');
    }
    expect(progress).toEqual([1, 1]);
    expect(logs).toEqual(['chatty ran', 'chatty ran']);
    // A list change after the call: once the stream has it, it has everything sent before it.
    await client.callTool({ name: 'rec__grow', arguments: {} });
    await listen.until((f) => f.method === 'notifications/tools/list_changed');
    listen.close();
    expect(listen.frames.map((f) => f.method)).toEqual(['notifications/subscriptions/acknowledged', 'notifications/tools/list_changed']);
    expect((listen.frames[1]?.params as { _meta?: Record<string, unknown> } | undefined)?._meta?.[SUBSCRIPTION_ID]).toBe(7);
  });
});

describe('issue 25 item 4: headers and trace context upstream', () => {
  it("Mcp-Name names the backend's own tool, resource and prompt; x-mcp-header arguments go as Mcp-Param-* headers, from every kind of caller", async () => {
    const [modern, legacy] = [await connect('modern'), await connect('legacy')];
    const calls: [string, () => Promise<string>][] = [
      ['modern', async () => text(await modern.callTool({ name: 'rec__route', arguments: { region: 'eu-west-1', count: 3, note: 'modern' } }))],
      ['legacy', async () => text(await legacy.callTool({ name: 'rec__route', arguments: { region: 'eu-west-1', count: 3, note: 'legacy' } }))],
      [
        'rest',
        async () =>
          resultText((await gw.request('POST', '/call', { server: 'rec', tool: 'route', arguments: { region: 'eu-west-1', count: 3, note: 'rest' } })).body),
      ],
    ];
    for (const [note, call] of calls) {
      expect(JSON.parse(await call())).toEqual({ region: 'eu-west-1', count: 3, note });
      const request = await received((s) => s.body.method === 'tools/call' && (s.body.params?.arguments as { note?: string } | undefined)?.note === note);
      expect(request.headers).toMatchObject({ 'mcp-method': 'tools/call', 'mcp-name': 'route', 'mcp-param-region': 'eu-west-1', 'mcp-param-count': '3' });
    }
    // A value outside plain ASCII goes Base64-encoded, as the spec says; an absent one gets no header.
    expect(JSON.parse(text(await modern.callTool({ name: 'rec__route', arguments: { region: 'Zürich', note: 'utf8' } })))).toMatchObject({ region: 'Zürich' });
    const utf8 = await received((s) => (s.body.params?.arguments as { note?: string } | undefined)?.note === 'utf8');
    expect(utf8.headers['mcp-param-region']).toBe(`=?base64?${Buffer.from('Zürich').toString('base64')}?=`);
    expect(utf8.headers).not.toHaveProperty('mcp-param-count');
    // resources/read and prompts/get name the backend's own URI and prompt.
    await modern.readResource({ uri: 'stonegate://rec/rec://note' }, { cacheMode: 'bypass' });
    expect((await seen()).filter((s) => s.body.method === 'resources/read').map((s) => s.headers['mcp-name'])).toEqual(['rec://note']);
    await modern.getPrompt({ name: 'rec__greet' });
    expect((await seen()).filter((s) => s.body.method === 'prompts/get').map((s) => s.headers['mcp-name'])).toEqual(['greet']);
  });

  it('a backend that refuses the headers (its schema changed unannounced) is listed again and the call sent once more, with the new headers', async () => {
    const client = await connect('modern');
    await client.callTool({ name: 'rec__reshape', arguments: {} });
    const answer = await client.callTool({ name: 'rec__route', arguments: { region: 'ap', tag: 'blue', note: 'reshaped' } });
    expect(JSON.parse(text(answer))).toEqual({ region: 'ap', tag: 'blue', note: 'reshaped' });
    const sent = (await seen()).filter(
      (s) => s.body.method === 'tools/call' && (s.body.params?.arguments as { note?: string } | undefined)?.note === 'reshaped',
    );
    expect(sent.map((s) => s.headers['mcp-param-tag'] ?? null)).toEqual([null, 'blue']);
    const route = (await client.listTools(undefined, { cacheMode: 'bypass' })).tools.find((t) => t.name === 'rec__route');
    expect(route?.inputSchema.properties?.tag).toMatchObject({ 'x-mcp-header': 'Tag' });
  });

  const TRACE = {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01',
    tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    baggage: 'userId=alice,serverNode=DF%2028',
  };

  it("the caller's W3C trace context in _meta reaches the backend verbatim, in both caller eras and both backend eras; the envelope is the gateway's", async () => {
    for (const era of ['modern', 'legacy'] as const) {
      const client = await connect(era);
      for (const backend of ['rec', 'old']) {
        const marker = `${era}-${backend}`;
        const meta = { ...TRACE, tracestate: `m=${marker}`, 'com.example/private': 'not for the backend' };
        const echoed = JSON.parse(text(await client.callTool({ name: `${backend}__echo_meta`, arguments: {}, _meta: meta }))) as Record<string, unknown>;
        expect(echoed, marker).toMatchObject({ ...TRACE, tracestate: `m=${marker}` });
        expect(echoed, marker).not.toHaveProperty('com.example/private');
        const request = await received((s) => s.body.method === 'tools/call' && s.body.params?._meta?.tracestate === `m=${marker}`);
        if (backend === 'rec') {
          // The envelope toward a 2026-07-28 backend is the gateway's: its client, the caller's capabilities.
          expect(request.body.params?._meta?.['io.modelcontextprotocol/clientInfo']).not.toMatchObject({ name: `hdr-${era}` });
        }
      }
    }
  });

  it('resources/read, prompts/get and gate_call carry the trace context too', async () => {
    const client = await connect('modern');
    const viaGate = await client.callTool({ name: 'gate_call', arguments: { server: 'rec', tool: 'echo_meta' }, _meta: { ...TRACE, tracestate: 'm=gate' } });
    expect(JSON.parse(text(viaGate))).toMatchObject({ ...TRACE, tracestate: 'm=gate' });
    await client.readResource({ uri: 'stonegate://rec/rec://note', _meta: { ...TRACE, tracestate: 'm=read' } }, { cacheMode: 'bypass' });
    await client.getPrompt({ name: 'rec__greet', _meta: { ...TRACE, tracestate: 'm=prompt' } });
    for (const [method, marker] of [
      ['resources/read', 'm=read'],
      ['prompts/get', 'm=prompt'],
    ]) {
      const request = await received((s) => s.body.method === method && s.body.params?._meta?.tracestate === marker);
      expect(request.body.params?._meta).toMatchObject({ traceparent: TRACE.traceparent, baggage: TRACE.baggage });
    }
  });

  it("a 2025 caller's _meta cannot put envelope keys on the gateway's request to a 2026-07-28 backend", async () => {
    const client = await connect('legacy');
    const spoof = {
      'io.modelcontextprotocol/clientInfo': { name: 'spoofed', version: '6.6.6' },
      'io.modelcontextprotocol/logLevel': 'debug',
      tracestate: 'm=spoof',
    };
    await client.readResource({ uri: 'stonegate://rec/rec://note', _meta: spoof });
    await client.getPrompt({ name: 'rec__greet', _meta: spoof });
    await client.callTool({ name: 'rec__echo_meta', arguments: {}, _meta: spoof });
    const sent = (await seen()).filter((s) => s.body.params?._meta?.tracestate === 'm=spoof');
    expect(sent.map((s) => s.body.method)).toEqual(['resources/read', 'prompts/get', 'tools/call']);
    for (const request of sent) {
      expect(request.body.params?._meta?.['io.modelcontextprotocol/clientInfo']).not.toMatchObject({ name: 'spoofed' });
      expect(request.body.params?._meta).not.toHaveProperty('io.modelcontextprotocol/logLevel');
    }
  });
});

describe('issue 25 item 2: a 2026-07-28 backend that restarts', () => {
  it("the gateway listens to it again and catches up: its changes reach the clients' listen streams as before", async () => {
    const [client, watcher] = [await connect('modern'), await connect('modern')];
    const subscription = await client.listen({ toolsListChanged: true });
    const watching = await watcher.listen({ resourceSubscriptions: ['stonegate://rec/rec://note'] });
    // The backend restarts on the same address: it has no session to lose, but the gateway's listen stream to it ended.
    const exited = new Promise((resolve) => recorder.once('exit', resolve));
    recorder.kill();
    await exited;
    await startRecorder(Number(new URL(recorderBase).port));
    // Caught up: the new process has not grown, so the tools it grew before are gone.
    const changed = next(client, 'notifications/tools/list_changed');
    const listens = async (): Promise<string[]> =>
      (await seen()).filter((s) => s.body.method === 'subscriptions/listen').map((s) => JSON.stringify(s.body.params?.notifications));
    await eventually(async () => (await listens()).some((filter) => filter.includes('toolsListChanged')));
    await changed;
    expect((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name)).not.toContain('rec__grown_1');
    // And it hears the backend's next change.
    const again = next(client, 'notifications/tools/list_changed');
    await client.callTool({ name: 'rec__grow', arguments: {} });
    await again;
    expect((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name)).toContain('rec__grown_1');
    // The resource the watcher watches is subscribed on the new process too.
    await eventually(async () => (await listens()).includes(JSON.stringify({ resourceSubscriptions: ['rec://note'] })));
    const updated = next(watcher, 'notifications/resources/updated');
    await client.callTool({ name: 'rec__touch', arguments: {} });
    expect(await updated).toMatchObject({ uri: 'stonegate://rec/rec://note' });
    await Promise.all([subscription.close(), watching.close()]);
  });
});
