import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

/** Why a connection ended, as the supervisor needs to know it. */
export interface ConnectionEnd {
  /** true when we closed it; false when the backend died or hung up. */
  expected: boolean;
  /** A sentence for error messages: `exited with code 1`, `killed by SIGKILL`, `connection closed`. */
  reason: string;
  /** The child's last stderr lines, for stdio backends. */
  stderr: readonly string[];
}

export interface ConnectionParts {
  client: Client;
  /** Ends the underlying link (stops the child, closes the HTTP session). */
  shutdown: () => Promise<void>;
  /** Settles when the link ends for any reason. */
  ended: Promise<Omit<ConnectionEnd, 'expected'>>;
  pid?: number;
}

let nextId = 1;

/**
 * One initialized MCP client to a backend. It carries several requests at a
 * time (JSON-RPC multiplexes over one link); `inflight` is how the pool
 * spreads calls. `close()` is idempotent.
 */
export class Connection {
  readonly id = nextId++;
  readonly client: Client;
  readonly pid: number | undefined;
  readonly createdAt = Date.now();
  /** Settles once when the connection has ended, expected or not. */
  readonly ended: Promise<ConnectionEnd>;
  inflight = 0;
  #alive = true;
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #shutdown: () => Promise<void>;

  constructor(parts: ConnectionParts) {
    this.client = parts.client;
    this.pid = parts.pid;
    this.#shutdown = parts.shutdown;
    this.ended = parts.ended.then((end) => {
      this.#alive = false;
      return { ...end, expected: this.#closing };
    });
  }

  /** False once the link has ended or close() was called. */
  get alive(): boolean {
    return this.#alive && !this.#closing;
  }

  close(): Promise<void> {
    this.#closing = true;
    this.#closed ??= this.#shutdown().then(
      () => undefined,
      () => undefined,
    );
    return this.#closed;
  }
}
