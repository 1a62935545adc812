import type { Client, ClientCapabilities } from '@modelcontextprotocol/client';

/** Why the gateway closed a connection itself, when an operator or its shutdown did. */
export type CloseCause = 'stop' | 'remove' | 'restart' | 'shutdown';

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
  /** [speed] The link's lean request path, when it has one (a stdio link: supervisor/lean-calls.ts). */
  lean?: LeanLink;
}

/**
 * [speed] Sends a request on a negotiated link and matches its response
 * without the SDK client's Protocol; for a plain tools/call (router.ts).
 * Rejects as the SDK client would: ProtocolError for a JSON-RPC error, the
 * signal's reason (as an SdkError) on abort, after telling the backend.
 */
export interface LeanLink {
  request(method: string, params: Record<string, unknown>, signal: AbortWatch): Promise<Record<string, unknown>>;
}

/** What a lean request watches for its end: an AbortSignal, or the router's Deadline, which needs none (router/deadline.ts). */
export interface AbortWatch {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: AbortListener): void;
}

/** An abort listener as an object (an EventTarget's handleEvent), so a request needs no closure for it. */
export interface AbortListener {
  handleEvent(): void;
}

/**
 * The agent side of a call in flight: where a backend's server-to-client
 * requests and log messages for that call are sent. Implemented by the MCP
 * front door; REST callers have none.
 */
export interface Downstream {
  /**
   * A 2026-07-28 caller that cannot be asked at all (the era asks through
   * input_required results; only a direct tools/call relays them, see
   * src/mcp/input-bridge.ts), so the backend's sampling and elicitation are refused.
   */
  readonly modern?: boolean;
  /**
   * [mcp-bridge] Told the call's deadline when the router makes it: a
   * downstream that parks the backend's request while its caller answers
   * (input-bridge.ts) pauses it meanwhile.
   */
  onDeadline?(deadline: { pause(): void; resume(): void }): void;
  /** [mcp-ext] A 2026-07-28 caller that declared the Tasks extension: a 2026-07-28 backend's own task is handed to it (mcp/relayed-task.ts). */
  readonly takesTasks?: boolean;
  /** What the agent declared it can take at initialize; undefined when its connection takes no requests (a stateless POST). */
  capabilities(): ClientCapabilities | undefined;
  /** Sends a request to the agent (sampling, elicitation, roots) and returns its result. */
  request(method: string, params: Record<string, unknown> | undefined): Promise<Record<string, unknown>>;
  /** The log level a 2026-07-28 caller's request asked for (its envelope's logLevel); passed on to a 2026-07-28 backend. */
  logLevel?(): string | undefined;
  /** Sends a notification to the agent (logging messages). */
  notify(method: string, params: Record<string, unknown> | undefined): Promise<void>;
  /** [mcp-ext] The W3C trace context of the caller's request (`_meta` traceparent, tracestate, baggage), passed on verbatim (pool/backend-era.ts traced). */
  readonly traceContext?: Readonly<Record<string, string>>;
}

let nextId = 1;
const byClient = new WeakMap<Client, Connection>();

/** The connection a backend client belongs to (for its request handlers). */
export function connectionOf(client: Client): Connection | undefined {
  return byClient.get(client);
}

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
  /** Agents of the calls in flight that have one; see soleDownstream(). */
  readonly downstreams = new Set<Downstream>();
  /**
   * The MCP session this connection serves alone (a backend with affinity =
   * "session"), set once by the pool that made it; undefined when shared.
   */
  session: string | undefined;
  /**
   * Set by the backend: told of a transport failure that leaves the link
   * open (an HTTP server that refuses connections for now), with the end of
   * a sentence that starts with the backend's name.
   */
  onFault: ((reason: string) => void) | undefined;
  #alive = true;
  #closing = false;
  /** Set by terminate(): the end is a failure with this reason, although we caused it. */
  #failure: string | undefined;
  #closed: Promise<void> | undefined;
  #cause: CloseCause | undefined;
  readonly #shutdown: () => Promise<void>;
  readonly #lean: LeanLink | undefined;

  constructor(parts: ConnectionParts) {
    this.client = parts.client;
    this.pid = parts.pid;
    this.#lean = parts.lean;
    this.#shutdown = parts.shutdown;
    byClient.set(this.client, this);
    this.ended = parts.ended.then((end) => {
      this.#alive = false;
      if (this.#failure !== undefined) return { ...end, reason: this.#failure, expected: false };
      return { ...end, expected: this.#closing };
    });
  }

  /** [mcp-bridge] The protocol era the link negotiated (see pool/backend-era.ts): 'modern' = 2026-07-28, no backend session. */
  get era(): 'legacy' | 'modern' {
    return this.client.getProtocolEra() === 'modern' ? 'modern' : 'legacy';
  }

  /** [speed] The lean request path for a plain tools/call: on a negotiated 2025-era link that has one (a 2026-07-28 result needs the SDK's codec). */
  get lean(): LeanLink | undefined {
    return this.#lean !== undefined && this.client.getProtocolEra() === 'legacy' ? this.#lean : undefined;
  }

  /**
   * False once the link has ended or close() was called — or the client's
   * transport has closed: `ended` settles a moment later (it waits for the
   * child's exit status), and a call sent in between would only get "Not
   * connected".
   */
  get alive(): boolean {
    return this.#alive && !this.#closing && this.client.transport !== undefined;
  }

  /**
   * The agent a backend's unattributed message belongs to. On a shared
   * connection only when exactly one call is in flight: with two or more, a
   * sampling request or log line carries nothing that says whose it is, and
   * guessing would leak one agent's data to another. On a session's own
   * connection every call is that session's, so any of them reaches the
   * right agent (the latest, whose stream is likeliest to stay open).
   */
  soleDownstream(): Downstream | undefined {
    if (this.session !== undefined) return [...this.downstreams].at(-1);
    if (this.inflight !== 1 || this.downstreams.size !== 1) return undefined;
    return this.downstreams.values().next().value;
  }

  /**
   * Ends a link that no longer works although its process lives (it stopped
   * answering health checks): shut down like close(), but the end reports
   * `reason` and is not `expected`, so calls in flight on it fail as they
   * would in a crash.
   */
  terminate(reason: string): Promise<void> {
    if (!this.#closing) this.#failure = reason;
    return this.close();
  }

  /** What the gateway closed this connection for, once it did (stop, remove, restart, shutdown); known before the link has ended. */
  get closedBy(): CloseCause | undefined {
    return this.#closing ? this.#cause : undefined;
  }

  /** Closes the link; `cause` (the first given wins) tells calls in flight why. */
  close(cause?: CloseCause): Promise<void> {
    if (!this.#closing) this.#cause = cause;
    this.#closing = true;
    this.#closed ??= this.#shutdown().then(
      () => undefined,
      () => undefined,
    );
    return this.#closed;
  }
}
