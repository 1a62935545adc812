import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/client';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { LineTransport, MalformedResponse } from '../../src/supervisor/line-transport.js';

interface Harness {
  transport: LineTransport;
  input: PassThrough;
  output: PassThrough;
  messages: JSONRPCMessage[];
  errors: Error[];
  closes: () => number;
  warn: ReturnType<typeof vi.fn>;
  /** Resolves once `n` messages have arrived in total. */
  untilMessages: (n: number) => Promise<void>;
  /** Resolves at the transport's first close. */
  closed: Promise<void>;
}

async function harness(maxLineBytes = 1024): Promise<Harness> {
  const input = new PassThrough();
  const output = new PassThrough();
  const logger = silentLogger();
  const warn = vi.fn();
  logger.warn = warn;
  const transport = new LineTransport({ input, output, logger, maxLineBytes });
  const messages: JSONRPCMessage[] = [];
  const errors: Error[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  let closes = 0;
  let onClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  transport.onmessage = (m) => {
    messages.push(m);
    for (const w of waiting) if (messages.length >= w.n) w.resolve();
  };
  transport.onerror = (e) => errors.push(e);
  transport.onclose = () => {
    closes += 1;
    onClosed();
  };
  await transport.start();
  const untilMessages = (n: number): Promise<void> => (messages.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve })));
  return { transport, input, output, messages, errors, closes: () => closes, warn, untilMessages, closed };
}

const ping = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'ping' });
const line = (m: JSONRPCMessage): string => `${JSON.stringify(m)}\n`;

describe('LineTransport reading', () => {
  it('turns a malformed response to a request id into an error response for that id, marked MalformedResponse', async () => {
    const h = await harness();
    const valid: JSONRPCMessage[] = [
      { jsonrpc: '2.0', id: 1, result: {} },
      { jsonrpc: '2.0', id: 2, error: { code: -32000, message: 'the backend’s own error' } },
    ];
    for (const m of valid) h.input.write(line(m));
    h.input.write('{"jsonrpc":"2.0","id":3,"result":"not an object"}\n');
    h.input.write('{"jsonrpc":"2.0","id":"four","error":{"code":"x"}}\n');
    h.input.write('{"jsonrpc":"2.0","id":5}\n');
    await h.untilMessages(5);
    expect(h.messages.slice(0, 2)).toEqual(valid);
    const standIns = h.messages.slice(2) as { id: unknown; error: { code: number; data: unknown } }[];
    expect(standIns.map((m) => m.id)).toEqual([3, 'four', 5]);
    for (const m of standIns) {
      expect(m.error.code).toBe(-32603);
      expect(m.error.data).toBeInstanceOf(MalformedResponse);
    }
    expect((standIns[0]!.error.data as MalformedResponse).problem).toBe('"result" is a string, not an object');
    expect(h.warn).toHaveBeenCalled();
  });

  it('joins a message split across chunks', async () => {
    const h = await harness();
    const text = line(ping(1));
    h.input.write(text.slice(0, 7));
    h.input.write(text.slice(7, 20));
    h.input.write(text.slice(20));
    await h.untilMessages(1);
    expect(h.messages).toEqual([ping(1)]);
  });

  it('joins a multi-byte character split across chunks', async () => {
    const h = await harness();
    const bytes = Buffer.from(line({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'café ☕' } }));
    const cut = bytes.indexOf(Buffer.from('☕')) + 1;
    h.input.write(bytes.subarray(0, cut));
    h.input.write(bytes.subarray(cut));
    await h.untilMessages(1);
    expect(h.messages[0]).toMatchObject({ params: { data: 'café ☕' } });
  });

  it('delivers several messages of one chunk in order, with CRLF and blank lines', async () => {
    const h = await harness();
    h.input.write(`${line(ping(1))}\n${JSON.stringify(ping(2))}\r\n${line(ping(3))}${JSON.stringify(ping(4)).slice(0, 5)}`);
    h.input.write(`${JSON.stringify(ping(4)).slice(5)}\n`);
    await h.untilMessages(4);
    expect(h.messages).toEqual([ping(1), ping(2), ping(3), ping(4)]);
    expect(h.warn).not.toHaveBeenCalled();
  });

  it('skips lines that are not JSON-RPC without an error, and logs them at a limited rate', async () => {
    const h = await harness();
    h.input.write('Server started on stdio\n{"not":"jsonrpc"}\n[1,2]\n{broken json\n');
    h.input.write(line(ping(7)));
    await h.untilMessages(1);
    expect(h.messages).toEqual([ping(7)]);
    expect(h.errors).toEqual([]);
    expect(h.closes()).toBe(0);
    expect(h.warn).toHaveBeenCalledTimes(1);
  });

  it('closes with an error on a line over maxLineBytes, even before its newline', async () => {
    const h = await harness(64);
    h.input.write(`{"jsonrpc":"2.0","method":"x","params":{"pad":"${'x'.repeat(100)}`);
    await h.closed;
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]?.message).toMatch(/64 bytes/);
    h.input.write('"}}\n');
    h.input.write(line(ping(1)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.messages).toEqual([]);
    expect(h.closes()).toBe(1);
  });

  it('closes with an error on a whole line over maxLineBytes inside one chunk', async () => {
    const h = await harness(64);
    h.input.write(`${line(ping(1))}${line({ jsonrpc: '2.0', method: 'x', params: { pad: 'y'.repeat(100) } })}${line(ping(2))}`);
    await h.closed;
    expect(h.messages).toEqual([ping(1)]);
    expect(h.errors).toHaveLength(1);
  });

  it('says why it closed itself in `failure`, for the crash it causes', async () => {
    const over = await harness(64);
    over.input.write(`${'x'.repeat(100)}`);
    await over.closed;
    expect(over.transport.failure).toBe('wrote a line over 64 bytes on stdout (max_line_bytes)');

    const broken = await harness();
    broken.input.destroy(new Error('EIO'));
    await broken.closed;
    expect(broken.transport.failure).toBe('stdout failed: EIO');

    const ended = await harness();
    ended.input.end();
    await ended.closed;
    expect(ended.transport.failure).toBeUndefined();
  });

  it('closes once when the input ends', async () => {
    const h = await harness();
    h.input.end(line(ping(1)));
    await h.closed;
    expect(h.messages).toEqual([ping(1)]);
    await h.transport.close();
    expect(h.closes()).toBe(1);
  });
});

describe('LineTransport writing', () => {
  it('writes each message as one line of JSON', async () => {
    const h = await harness();
    await h.transport.send(ping(1));
    await h.transport.send({ jsonrpc: '2.0', id: 1, result: { text: 'a\nb' } });
    expect(h.output.read()?.toString()).toBe(`${JSON.stringify(ping(1))}\n{"jsonrpc":"2.0","id":1,"result":{"text":"a\\nb"}}\n`);
  });

  it('refuses to send once closed', async () => {
    const h = await harness();
    await h.transport.close();
    await expect(h.transport.send(ping(1))).rejects.toThrow(/closed/);
  });
});

describe('LineTransport with the SDK client', () => {
  it('delivers a progress notification that shares a chunk with its response', async () => {
    const { Client } = await import('@modelcontextprotocol/client');
    const { PassThrough } = await import('node:stream');
    const { silentLogger } = await import('../../src/log.js');
    const { LineTransport } = await import('../../src/supervisor/line-transport.js');
    const toClient = new PassThrough();
    const fromClient = new PassThrough();
    // A scripted backend: answers initialize, then for tools/call writes
    // progress and response in one write, as a fast server does.
    let buffered = '';
    fromClient.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffered.slice(0, nl)) as { id?: number; method: string; params?: { _meta?: { progressToken?: number } } };
        buffered = buffered.slice(nl + 1);
        if (message.method === 'initialize') {
          toClient.write(
            `${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 's', version: '1' } } })}\n`,
          );
        } else if (message.method === 'tools/call') {
          const token = message.params?._meta?.progressToken;
          toClient.write(
            `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 100, total: 100 } })}\n` +
              `${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [] } })}\n`,
          );
        }
      }
    });
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(new LineTransport({ input: toClient, output: fromClient, logger: silentLogger(), maxLineBytes: 1 << 20 }));
    const seen: number[] = [];
    await client.callTool({ name: 't', arguments: {} }, { onprogress: (p) => seen.push(p.progress) });
    expect(seen).toEqual([100]);
    await client.close();
  });
});
