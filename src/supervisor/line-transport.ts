import type { Readable, Writable } from 'node:stream';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import { ProtocolErrorCode } from '@modelcontextprotocol/client';
import type { Logger } from '../log.js';
import { LeanCalls } from './lean-calls.js';

export interface LineTransportOptions {
  input: Readable;
  output: Writable;
  logger: Logger;
  /** A single line longer than this closes the transport (the backend is restarted). */
  maxLineBytes: number;
}

const NEWLINE = 0x0a;
const GARBAGE_LOG_INTERVAL_MS = 10_000;

/**
 * MCP over newline-delimited JSON on a pair of streams (a child's stdout and
 * stdin). Unlike the SDK's stdio transport it tolerates what real servers
 * print: lines that are not JSON-RPC are skipped and reported at a limited
 * rate instead of failing the connection, and messages are not re-validated
 * with zod on the hot path (the Protocol layer checks what it uses).
 */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** [speed] Plain tools/calls that bypass the SDK Protocol (lean-calls.ts); their responses are taken here. */
  readonly lean = new LeanCalls((message) => this.send(message));

  readonly #input: Readable;
  readonly #output: Writable;
  readonly #log: Logger;
  readonly #maxLineBytes: number;
  readonly #chunks: Buffer[] = [];
  #offset = 0;
  #paused = false;
  #ended = false;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #closed = false;
  #failure: string | undefined;
  #garbage = 0;
  #garbageLoggedAt = 0;
  /** Settles when the corked messages have been handed to the stream. */
  #flushed: Promise<void> | undefined;

  constructor(options: LineTransportOptions) {
    this.#input = options.input;
    this.#output = options.output;
    this.#log = options.logger;
    this.#maxLineBytes = options.maxLineBytes;
  }

  /** Why the transport closed itself (a line over the limit, a stream error); undefined otherwise. */
  get failure(): string | undefined {
    return this.#failure;
  }

  async start(): Promise<void> {
    this.#input.on('data', this.#onData);
    this.#input.once('end', () => {
      this.#ended = true;
      if (!this.#paused) this.#drain();
    });
    this.#input.once('error', (error: Error) => this.#fail(`stdout failed: ${error.message}`, error));
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    if (!this.#paused) this.#drain();
  };

  /**
   * Delivers complete lines in order. After a notification, the rest waits
   * for the next turn of the event loop: the SDK runs notification handlers
   * a microtask later but responses at once, so a progress notification
   * followed in the same chunk by its call's response would find its
   * handler already gone and be dropped.
   */
  #drain(): void {
    this.#paused = false;
    while (this.#chunks.length > 0) {
      const chunk = this.#chunks[0] as Buffer;
      const newline = chunk.indexOf(NEWLINE, this.#offset);
      if (newline === -1) {
        this.#keepPartial(chunk.subarray(this.#offset));
        this.#chunks.shift();
        this.#offset = 0;
        if (this.#closed) return;
        continue;
      }
      const piece = chunk.subarray(this.#offset, newline);
      this.#offset = newline + 1;
      if (this.#offset >= chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      let line = piece;
      if (this.#pendingBytes > 0) {
        this.#pending.push(piece);
        line = Buffer.concat(this.#pending, this.#pendingBytes + piece.length);
        this.#pending = [];
        this.#pendingBytes = 0;
      }
      const notified = this.#handleLine(line);
      if (this.#closed) return;
      if (notified && this.#chunks.length > 0) {
        this.#paused = true;
        setImmediate(() => this.#drain());
        return;
      }
    }
    if (this.#ended) void this.close();
  }

  #keepPartial(rest: Buffer): void {
    if (rest.length === 0) return;
    this.#pending.push(rest);
    this.#pendingBytes += rest.length;
    if (this.#pendingBytes > this.#maxLineBytes) this.#fail(`wrote a line over ${this.#maxLineBytes} bytes on stdout (max_line_bytes)`);
  }

  /** Closes on a broken stream: the connection ends as a crash, with `why` as its reason. */
  #fail(why: string, error: Error = new Error(`backend ${why}`)): void {
    if (this.#closed) return;
    this.#failure = why;
    this.onerror?.(error);
    void this.close();
  }

  /** Handles one line; true when it delivered a notification. */
  #handleLine(line: Buffer): boolean {
    if (line.length > this.#maxLineBytes) {
      this.#fail(`wrote a line over ${this.#maxLineBytes} bytes on stdout (max_line_bytes)`);
      return false;
    }
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      message = undefined;
    }
    if (isJsonRpc(message)) {
      const problem = malformedResponse(message);
      if (problem !== undefined) {
        this.#answerMalformed(message as { id: string | number }, problem);
        return false;
      }
      this.#deliver(message);
      return (message as { id?: unknown }).id === undefined;
    }
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return false;
    this.#reportGarbage(line);
    return false;
  }

  /**
   * A response to a request id that the SDK would not recognize as one (a
   * result that is not an object, say) would be dropped, and its call would
   * wait for the whole timeout. It becomes an error response for that id
   * instead, marked as the gateway's own verdict (MalformedResponse), so the
   * call fails at once with BACKEND_ERROR and the breaker counts it.
   */
  #answerMalformed(message: { id: string | number }, problem: string): void {
    this.#log.warn({ id: message.id, problem }, 'backend sent a malformed JSON-RPC response; the call fails with BACKEND_ERROR');
    this.#deliver({
      jsonrpc: '2.0',
      id: message.id,
      error: { code: ProtocolErrorCode.InternalError, message: `Malformed response: ${problem}`, data: new MalformedResponse(problem) },
    } as JSONRPCMessage);
  }

  /** A message to the lean request it answers, or else to the SDK client. */
  #deliver(message: JSONRPCMessage): void {
    if (!this.lean.settle(message)) this.onmessage?.(message);
  }

  #reportGarbage(line: Buffer): void {
    this.#garbage += 1;
    const now = Date.now();
    if (now - this.#garbageLoggedAt < GARBAGE_LOG_INTERVAL_MS) return;
    this.#garbageLoggedAt = now;
    const sample = line.subarray(0, 200).toString('utf8');
    this.#log.warn({ skipped_lines: this.#garbage, sample }, 'backend wrote a non-JSON-RPC line on stdout; skipped');
    this.#garbage = 0;
  }

  /**
   * Writes one message as one line. [speed] The stream stays corked until
   * the event loop's check phase, so the messages of all the requests that
   * arrived in one poll (16 concurrent calls, their cancellations) reach the
   * child in one write, and it wakes once for them; the promise settles
   * once they are flushed.
   */
  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('transport closed');
    let flushed = this.#flushed;
    if (flushed === undefined) {
      this.#output.cork();
      flushed = new Promise<void>((resolve) => setImmediate(this.#uncork, resolve));
      this.#flushed = flushed;
    }
    this.#output.write(`${JSON.stringify(message)}\n`);
    await flushed;
    if (this.#output.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#output.off('drain', done);
          this.#output.off('close', done);
          resolve();
        };
        this.#output.once('drain', done);
        this.#output.once('close', done);
      });
    }
  }

  readonly #uncork = (flushed: () => void): void => {
    this.#flushed = undefined;
    this.#output.uncork();
    flushed();
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off('data', this.#onData);
    this.#pending = [];
    this.#chunks.length = 0;
    this.onclose?.();
    // After the SDK client has dropped its transport, so a lean call's failure reads as a closed link (router/failure.ts).
    this.lean.close();
  }
}

/** The `data` of the error that stands in for a malformed response; the router tells it from a backend's own error by this class. */
export class MalformedResponse {
  constructor(readonly problem: string) {}
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What is wrong with a message that answers a request id (no method) but is no valid response; undefined when nothing is, or when it names no id. */
function malformedResponse(message: JSONRPCMessage): string | undefined {
  const m = message as Record<string, unknown>;
  if ('method' in m) return undefined;
  if (typeof m.id !== 'string' && !Number.isInteger(m.id)) return undefined;
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if (hasResult && hasError) return 'it has both "result" and "error"';
  if (hasResult)
    return isPlainObject(m.result)
      ? undefined
      : `"result" is ${m.result === null ? 'null' : Array.isArray(m.result) ? 'an array' : `a ${typeof m.result}`}, not an object`;
  if (hasError) {
    const e = m.error;
    return isPlainObject(e) && Number.isInteger(e.code) && typeof e.message === 'string'
      ? undefined
      : '"error" is not an object with an integer code and a string message';
  }
  return 'it has neither "result" nor "error"';
}

function isJsonRpc(value: unknown): value is JSONRPCMessage {
  return typeof value === 'object' && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';
}
