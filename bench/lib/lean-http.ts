/*
 * A lean HTTP/1.1 keep-alive client for load benches, in the manner of wrk
 * and autocannon: the request is written as one buffer on a socket of its
 * own, and the answer is parsed only as far as the status line, the
 * Content-Length (or chunked framing) and the body. node:http's client costs
 * a bench process about 120 µs of CPU per request on this class of machine;
 * on two cores shared with the server that CPU is taken from the server, so
 * the lean client shows more of what the server can do.
 *
 * One request at a time per connection (no pipelining); a caller that wants
 * concurrency opens several. Answers with neither Content-Length nor chunked
 * framing are refused: every server these benches drive sends one of them.
 */
import { connect, type Socket } from 'node:net';

export interface LeanAnswer {
  status: number;
  /** The status line and header lines as sent (latin1), for the few headers a bench reads. */
  head: string;
  body: Buffer;
}

/** A header's value from a LeanAnswer's head, or undefined. */
export function headerOf(answer: LeanAnswer, name: string): string | undefined {
  const match = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)`, 'i').exec(answer.head);
  return match?.[1];
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection. `request` may be called again once the previous one has answered. */
export class LeanConnection {
  private readonly socket: Socket;
  private readonly ready: Promise<void>;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve: (a: LeanAnswer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly host: string,
    port: number,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /** `headers`: extra header lines, each ending in CRLF (e.g. "accept: application/json\r\n"). */
  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: string, headers = ''): Promise<LeanAnswer> {
    if (this.failure !== undefined) throw this.failure;
    if (this.pending !== undefined) throw new Error('LeanConnection: one request at a time');
    await this.ready;
    const payload = body === undefined ? '' : body;
    const head =
      `${method} ${path} HTTP/1.1\r\nhost: ${this.host}\r\nconnection: keep-alive\r\n${headers}` +
      (body === undefined ? '\r\n' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n`);
    return new Promise<LeanAnswer>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(head + payload);
    });
  }

  /** False once the socket failed or closed (a server drops idle keep-alive sockets after its timeout). */
  get usable(): boolean {
    return this.failure === undefined;
  }

  close(): void {
    this.failure ??= new Error('connection closed');
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const answer = this.parse();
    if (answer === undefined) return;
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(answer);
  }

  /** A whole answer off the front of the buffer, or undefined while it is incomplete. */
  private parse(): LeanAnswer | undefined {
    const headEnd = this.buffered.indexOf(HEAD_END);
    if (headEnd < 0) return undefined;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const start = headEnd + 4;
    if (length !== null) {
      const end = start + Number(length[1]);
      if (this.buffered.length < end) return undefined;
      const body = this.buffered.subarray(start, end);
      this.buffered = this.buffered.subarray(end);
      return { status, head, body };
    }
    if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      this.fail(new Error(`answer without content-length or chunked framing: ${head.slice(0, 200)}`));
      return undefined;
    }
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = this.buffered.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(this.buffered.toString('latin1', at, lineEnd), 16);
      const dataStart = lineEnd + 2;
      if (this.buffered.length < dataStart + size + 2) return undefined;
      if (size === 0) {
        this.buffered = this.buffered.subarray(dataStart + 2);
        return { status, head, body: Buffer.concat(parts) };
      }
      parts.push(this.buffered.subarray(dataStart, dataStart + size));
      at = dataStart + size + 2;
    }
  }
}

/**
 * Connections to one origin, handed out one per request in flight and kept
 * alive between requests; closed together. Connections idle for a second or
 * more are dropped rather than reused: a server closes an idle keep-alive
 * socket after its timeout (5 s in Node), and one closed just as a request
 * is written would fail that request.
 */
export class LeanPool {
  private readonly idle: LeanConnection[] = [];
  private readonly all = new Set<LeanConnection>();
  private readonly host: string;
  private readonly port: number;
  private inFlight = 0;
  private idleSince = performance.now();

  constructor(base: string) {
    const url = new URL(base);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: string, headers = ''): Promise<LeanAnswer> {
    if (this.inFlight === 0 && performance.now() - this.idleSince > 1_000) this.close();
    this.inFlight += 1;
    try {
      return await this.exchange(method, path, body, headers);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.idleSince = performance.now();
    }
  }

  close(): void {
    for (const connection of this.all) connection.close();
    this.all.clear();
    this.idle.length = 0;
  }

  private async exchange(method: 'GET' | 'POST' | 'DELETE', path: string, body: string | undefined, headers: string): Promise<LeanAnswer> {
    let connection = this.idle.pop();
    while (connection !== undefined && !connection.usable) {
      this.all.delete(connection);
      connection = this.idle.pop();
    }
    connection ??= this.open();
    try {
      const answer = await connection.request(method, path, body, headers);
      this.idle.push(connection);
      return answer;
    } catch (error) {
      this.all.delete(connection);
      connection.close();
      throw error;
    }
  }

  private open(): LeanConnection {
    const connection = new LeanConnection(this.host, this.port);
    this.all.add(connection);
    return connection;
  }
}
