import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * #30 the lean /mcp path for 2025 sessions whose client declared sampling or
 * elicitation, or set a log level (src/http/mcp-lean-sse.ts): most real
 * agents declare them, and their calls took the SDK path's SSE answer
 * whatever the call. Now a call is
 * answered with one JSON body unless it sends the client a message first
 * (spec-legal: the server chooses per POST); then the POST's response turns
 * into the SDK path's SSE stream: the request to the client, then the answer,
 * each event stored for a resume. The rows here compare the messages on both
 * paths (a query string takes the SDK path), and a drop after the switch
 * keeps the same cancelled answer for a client that resumes.
 */

const ADMIN = 'tok-admin-30-asks';
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(
    `
[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${A30_ADMIN}"

${demoBackend()}
`,
    { env: { A30_ADMIN: ADMIN } },
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function leanCount(): Promise<number> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith('stonegate_mcp_lean_calls_total{era="2025"}'));
  if (line === undefined) throw new Error('no stonegate_mcp_lean_calls_total in /metrics');
  return Number(line.split(' ').pop());
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

/** An SDK client that declares sampling and elicitation, answering both. */
async function askingClient(path = '/mcp'): Promise<Client> {
  const client = new Client({ name: 'asking', version: '1' }, { capabilities: { sampling: {}, elicitation: {} } });
  client.setRequestHandler('sampling/createMessage', async () => ({
    role: 'assistant',
    model: 'test',
    content: { type: 'text', text: 'sampled by the client' },
  }));
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { answer: 'ada' } }));
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${ADMIN}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

describe('#30 a client that declares sampling or elicitation', () => {
  it('takes the lean path for calls that ask nothing and for calls that ask it (SDK client)', async () => {
    const client = await askingClient();
    const before = await leanCount();
    expect(text(await client.callTool({ name: 'demo__echo', arguments: { text: 'plain' } }))).toBe('plain');
    expect(text(await client.callTool({ name: 'demo__sample', arguments: { prompt: 'hi' } }))).toBe('sampled by the client');
    expect(text(await client.callTool({ name: 'demo__elicit', arguments: { message: 'who?' } }))).toContain('ada');
    expect(await leanCount()).toBe(before + 3);
  });
});

/** One SSE event's parsed data and id. */
interface SseEvent {
  id: string | undefined;
  data: string;
}

/** A POST held open: its status and headers, and its SSE events as they come (or its whole JSON body). */
interface Open {
  status: number;
  headers: IncomingHttpHeaders;
  next(): Promise<SseEvent | undefined>;
  body(): Promise<string>;
  destroy(): void;
}

function open(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Open> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res: IncomingMessage) => {
      let raw = '';
      let ended = false;
      const events: SseEvent[] = [];
      const waiting: ((e: SseEvent | undefined) => void)[] = [];
      const flush = (): void => {
        for (;;) {
          const cut = raw.indexOf('\n\n');
          if (cut === -1) break;
          const block = raw.slice(0, cut);
          raw = raw.slice(cut + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: ?(.*)$/m.exec(block)?.[1] ?? '';
          if (block.startsWith(':')) continue; // a keep-alive comment
          events.push({ id, data });
        }
        while (waiting.length > 0 && (events.length > 0 || ended)) waiting.shift()?.(events.shift());
      };
      let all = '';
      res.on('data', (d: Buffer) => {
        raw += d.toString();
        all += d.toString();
        flush();
      });
      const done = new Promise<string>((r) =>
        res.on('close', () => {
          ended = true;
          flush();
          r(all);
        }),
      );
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        next: () => (events.length > 0 || ended ? Promise.resolve(events.shift()) : new Promise((r) => waiting.push(r))),
        body: () => done,
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw 2025 session that declares sampling and elicitation, at `version`. */
async function rawSession(version: string): Promise<Record<string, string>> {
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${ADMIN}` };
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: version, capabilities: { sampling: {}, elicitation: {} }, clientInfo: { name: 'raw-asking', version: '1' } },
  });
  const opened = await open('POST', '/mcp', base, init);
  await opened.body();
  const session = { ...base, 'mcp-session-id': String(opened.headers['mcp-session-id']), 'mcp-protocol-version': version };
  const ack = await open('POST', '/mcp', session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  expect(ack.status).toBe(202);
  return session;
}

const call = (id: number, name: string, args: Record<string, unknown>): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

/** The messages of an SSE answer (priming events, which carry no data, left out). */
async function messages(answer: Open): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let e = await answer.next(); e !== undefined; e = await answer.next()) if (e.data !== '') out.push(JSON.parse(e.data));
  return out;
}

describe('#30 the lean answer of an asking client, against the SDK path', () => {
  it.each(['2025-06-18', '2025-11-25'])('%s: a call that asks nothing is one JSON body (the SDK path: SSE), with the same answer', async (version) => {
    const session = await rawSession(version);
    const before = await leanCount();
    const lean = await open('POST', '/mcp', session, call(7, 'demo__echo', { text: 'same' }));
    expect(lean.headers['content-type']).toBe('application/json');
    expect(lean.headers['content-length']).toBeDefined();
    const leanBody = JSON.parse(await lean.body()) as unknown;
    expect(await leanCount()).toBe(before + 1);
    const sdk = await open('POST', '/mcp?via=sdk', session, call(7, 'demo__echo', { text: 'same' }));
    expect(sdk.headers['content-type']).toBe('text/event-stream');
    expect(await messages(sdk)).toEqual([leanBody]);
    expect(await leanCount()).toBe(before + 1);
  });

  it.each(['2025-06-18', '2025-11-25'])(
    '%s: a call that samples switches to SSE: the sampling request, then the answer, as on the SDK path',
    async (version) => {
      const session = await rawSession(version);
      const run = async (path: string): Promise<{ type: string | undefined; events: unknown[]; primed: boolean }> => {
        const answer = await open('POST', path, session, call(8, 'demo__sample', { prompt: 'hi' }));
        const first = await answer.next();
        const primed = first?.data === '' && first.id !== undefined;
        const asked = primed ? await answer.next() : first;
        const ask = JSON.parse(asked?.data ?? '{}') as { id: number; method: string };
        expect(ask.method).toBe('sampling/createMessage');
        const reply = { jsonrpc: '2.0', id: ask.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled raw' } } };
        expect((await open('POST', '/mcp', session, JSON.stringify(reply))).status).toBe(202);
        const rest = await messages(answer);
        return { type: answer.headers['content-type'], events: [{ ...ask, id: 'asked' }, ...rest], primed };
      };
      const before = await leanCount();
      const lean = await run('/mcp');
      expect(await leanCount()).toBe(before + 1);
      const sdk = await run('/mcp?via=sdk');
      expect(await leanCount()).toBe(before + 1);
      expect(lean).toEqual(sdk);
      expect(lean.type).toBe('text/event-stream');
      expect(lean.primed).toBe(version === '2025-11-25');
      expect(JSON.stringify(lean.events.at(-1))).toContain('sampled raw');
    },
  );

  it("a backend's log message during a call (no log level set) reaches the client as on the SDK path", async () => {
    const session = await rawSession('2025-11-25');
    const run = async (path: string): Promise<{ type: string | undefined; messages: unknown[] }> => {
      const answer = await open('POST', path, session, call(10, 'demo__log', { message: 'from the backend' }));
      const type = answer.headers['content-type'];
      if (type === 'application/json') return { type, messages: [JSON.parse(await answer.body())] };
      return { type, messages: await messages(answer) };
    };
    const before = await leanCount();
    const lean = await run('/mcp');
    expect(await leanCount()).toBe(before + 1);
    const sdk = await run('/mcp?via=sdk');
    // The log message switches the lean answer to SSE: the message, then the answer, as the SDK path's stream.
    expect(lean).toEqual(sdk);
    expect(lean.type).toBe('text/event-stream');
    expect(JSON.stringify(lean.messages[0])).toContain('notifications/message');
  });

  it('a session that set a log level: a plain call is one JSON body, a call that logs switches to SSE, as on the SDK path', async () => {
    const session = await rawSession('2025-06-18');
    const level = await open('POST', '/mcp', session, JSON.stringify({ jsonrpc: '2.0', id: 20, method: 'logging/setLevel', params: { level: 'debug' } }));
    await level.body();
    const before = await leanCount();
    const plain = await open('POST', '/mcp', session, call(21, 'demo__echo', { text: 'quiet' }));
    expect(plain.headers['content-type']).toBe('application/json');
    expect(JSON.parse(await plain.body())).toMatchObject({ id: 21 });
    const run = async (path: string): Promise<{ type: string | undefined; messages: unknown[] }> => {
      const answer = await open('POST', path, session, call(22, 'demo__log', { level: 'debug', message: 'at debug' }));
      return { type: answer.headers['content-type'], messages: await messages(answer) };
    };
    const lean = await run('/mcp');
    expect(await leanCount()).toBe(before + 2);
    const sdk = await run('/mcp?via=sdk');
    expect(lean).toEqual(sdk);
    expect(lean.type).toBe('text/event-stream');
    expect(JSON.stringify(lean.messages[0])).toContain('at debug');
  });

  it('a connection dropped after the switch cancels the call and keeps its answer for a resume, as on the SDK path', async () => {
    const session = await rawSession('2025-11-25');
    const run = async (path: string): Promise<unknown[]> => {
      const answer = await open('POST', path, session, call(9, 'demo__sample', { prompt: 'never answered' }));
      expect((await answer.next())?.data).toBe(''); // the priming event
      const asked = await answer.next();
      expect(asked?.data).toContain('sampling/createMessage');
      answer.destroy();
      // The cancelled answer is stored after the asked event: a GET resuming from it gets it.
      // Until the gateway has seen the close, the stream is still its own (409).
      const resume = await eventually(async () => {
        const got = await open('GET', '/mcp', { ...session, accept: 'text/event-stream', 'last-event-id': String(asked?.id) });
        if (got.status === 200) return got;
        expect(got.status).toBe(409);
        await got.body();
        return undefined;
      });
      const first = await resume.next();
      resume.destroy();
      return [JSON.parse(first?.data ?? 'null')];
    };
    const before = await leanCount();
    const lean = await run('/mcp');
    expect(await leanCount()).toBe(before + 1);
    const sdk = await run('/mcp?via=sdk');
    expect(lean).toEqual(sdk);
    expect(JSON.stringify(lean)).toContain('Request cancelled');
  });
});
