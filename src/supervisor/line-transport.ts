import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';

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

  readonly #input: Readable;
  readonly #output: Writable;
  readonly #log: Logger;
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #closed = false;
  #garbage = 0;
  #garbageLoggedAt = 0;

  constructor(options: LineTransportOptions) {
    this.#input = options.input;
    this.#output = options.output;
    this.#log = options.logger;
    this.#maxLineBytes = options.maxLineBytes;
  }

  async start(): Promise<void> {
    this.#input.on('data', this.#onData);
    this.#input.once('end', () => void this.close());
    this.#input.once('error', (error: Error) => {
      this.onerror?.(error);
      void this.close();
    });
  }

  readonly #onData = (chunk: Buffer): void => {
    let start = 0;
    let newline = chunk.indexOf(NEWLINE, start);
    while (newline !== -1) {
      const piece = chunk.subarray(start, newline);
      if (this.#pendingBytes > 0) {
        this.#pending.push(piece);
        this.#handleLine(Buffer.concat(this.#pending, this.#pendingBytes + piece.length));
        this.#pending = [];
        this.#pendingBytes = 0;
      } else {
        this.#handleLine(piece);
      }
      if (this.#closed) return;
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#pending.push(rest);
      this.#pendingBytes += rest.length;
      if (this.#pendingBytes > this.#maxLineBytes) {
        this.onerror?.(new Error(`backend wrote a line over ${this.#maxLineBytes} bytes on stdout`));
        void this.close();
      }
    }
  };

  #handleLine(line: Buffer): void {
    if (line.length > this.#maxLineBytes) {
      this.onerror?.(new Error(`backend wrote a line of ${line.length} bytes on stdout (limit ${this.#maxLineBytes})`));
      void this.close();
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      message = undefined;
    }
    if (isJsonRpc(message)) {
      this.onmessage?.(message);
      return;
    }
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return;
    this.#reportGarbage(line);
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

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('transport closed');
    const ok = this.#output.write(`${JSON.stringify(message)}\n`);
    if (!ok) {
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.off('data', this.#onData);
    this.#pending = [];
    this.onclose?.();
  }
}

function isJsonRpc(value: unknown): value is JSONRPCMessage {
  return typeof value === 'object' && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';
}
