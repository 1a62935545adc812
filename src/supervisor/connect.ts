import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { basicCredential, scrub, secretsOf } from '../config/redact.js';
import type { BackendConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { Connection } from '../pool/connection.js';
import { VERSION } from '../version.js';
import { httpFault } from './http-fault.js';
import { LineTransport } from './line-transport.js';
import { StdioChild, type ExitInfo } from './stdio-child.js';

/** What a new connection is told to do with what the backend sends unasked. */
export interface ConnectHooks {
  /** Client options (capabilities) announced to the backend. */
  clientOptions?: ClientOptions;
  /** Called with the fresh client before initialize, to install notification handlers. */
  setup?: (client: Client) => void;
}

/** Environment variables every child gets so that commands resolve; the rest is what the entry declares. */
const BASE_ENV = ['PATH', 'HOME'] as const;

/** Builds a child's environment: PATH and HOME, then the entry's env (or everything with inherit_env). */
export function childEnv(config: BackendConfig, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  const source = config.inheritEnv ? Object.keys(parent) : BASE_ENV;
  for (const key of source) {
    const value = parent[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, config.env);
}

function describeExit(exit: ExitInfo): string {
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? 'unknown'}`;
}

function newClient(hooks: ConnectHooks): Client {
  const client = new Client({ name: 'stonegate', version: VERSION }, hooks.clientOptions ?? { capabilities: {} });
  hooks.setup?.(client);
  return client;
}

/** Spawns a stdio backend and initializes MCP over its stdin/stdout. */
export async function connectStdio(config: BackendConfig, logger: Logger, hooks: ConnectHooks): Promise<Connection> {
  // `node` means the Node that runs the gateway, so a shipped config works
  // whatever node is first on PATH.
  const command = config.command === 'node' ? process.execPath : (config.command ?? '');
  const env = childEnv(config);
  // What `--log-level debug` is for when a backend will not start: the exact
  // command line, folder and variable names. Values never: env values are
  // secrets, and an argument that holds one is shown redacted.
  const secrets = secretsOf(config);
  logger.debug({ command, args: config.args.map((a) => scrub(a, secrets)), cwd: config.cwd, env_keys: Object.keys(env).sort(), inherit_env: config.inheritEnv }, 'spawning backend process');
  let child: StdioChild;
  try {
    child = await StdioChild.spawn({
      command,
      args: config.args,
      cwd: config.cwd,
      env,
      logger,
      stderrLines: config.supervisor.stderr_lines,
      secrets: secretsOf(config),
      backend: config.name,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `command '${config.command}' not found (is it installed and on PATH?) or cwd '${config.cwd}' is missing` : scrub((err as Error).message, secretsOf(config));
    throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${config.name}' could not start: ${why}`, { details: { permanent: code === 'ENOENT' || code === 'EACCES' } });
  }
  const transport = new LineTransport({ input: child.stdout, output: child.stdin, logger, maxLineBytes: config.supervisor.max_line_bytes });
  const client = newClient(hooks);
  // Set when we stop the child ourselves: then it gets its grace period.
  let stopping = false;
  const ended = Promise.race([child.exited, new Promise<null>((resolve) => transportClosed(transport, () => resolve(null)))]).then(async (first) => {
    // The transport may close a moment before the exit event: the exit says more.
    const exit = first ?? child.exitInfo ?? (await Promise.race([child.exited, delay(50)]));
    // A transport that closed on its own (a line over max_line_bytes, a
    // broken stdout) leaves a child we cannot talk to: it goes, and the end
    // counts as a crash. A leader that died leaves its group: that goes too,
    // so no grandchild outlives a crash. (A stop of ours does both itself,
    // after the grace period.)
    if (!stopping) {
      if (child.exitInfo === undefined) child.kill();
      else child.reap();
    }
    const reason = transport.failure ?? (exit ? describeExit(exit) : 'closed its stdout');
    return { reason, stderr: child.stderrTail };
  });
  const shutdown = (): Promise<void> => {
    stopping = true;
    return shutdownStdio(client, child, config);
  };
  const connection = new Connection({ client, pid: child.pid, ended, shutdown });
  logger.debug({ pid: child.pid, start_timeout: config.startTimeout }, 'backend process started; sending initialize');
  try {
    await client.connect(transport, { timeout: config.startTimeout });
    logger.debug({ pid: child.pid, server_info: serverInfo(client) }, 'backend initialized');
  } catch (err) {
    // The client closed the transport on failure: what counts is whether
    // the child died by itself (a crash at start) or just did not answer.
    // (After a timeout the child is killed by us: its exit says nothing.)
    const timedOut = err instanceof Error && /timed out/i.test(err.message);
    const exit = timedOut ? undefined : (child.exitInfo ?? (await Promise.race([child.exited, delay(100)])));
    // A child that does not speak MCP gets no grace period.
    child.kill();
    await connection.close();
    const tail = child.stderrTail.slice(-5);
    const why = transport.failure ?? (exit ? describeExit(exit) : scrub(describeInitError(err, config.startTimeout), secretsOf(config)));
    throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${config.name}' failed to initialize: ${why}${tail.length ? ` — last stderr: ${tail.join(' | ')}` : ''}`, {
      details: { stderr: [...child.stderrTail] },
    });
  }
  return connection;
}

async function shutdownStdio(client: Client, child: StdioChild, config: BackendConfig): Promise<void> {
  // Closing the client closes our transport first so that no response to a
  // request we no longer track is mistaken for garbage; then the child goes.
  await client.close().catch(() => undefined);
  await child.stop(config.supervisor.stop_timeout);
}

/** Connects to a remote MCP server: Streamable HTTP first, legacy SSE when that is refused. */
export async function connectHttp(config: BackendConfig, logger: Logger, hooks: ConnectHooks): Promise<Connection> {
  const url = new URL(config.url ?? '');
  const headers: Record<string, string> = { ...config.headers };
  // fetch() refuses URLs with credentials (and names them in its error):
  // they become a Basic Authorization header, unless one is given.
  if (url.username !== '' || url.password !== '') {
    const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
    if (!hasAuth) headers.Authorization = `Basic ${basicCredential(url) ?? ''}`;
    url.username = '';
    url.password = '';
  }
  const requestInit = { headers };
  // The address without credentials or query (which may carry a key), and header names only.
  const where = `${url.origin}${url.pathname}`;
  // start_timeout bounds the whole connect, the legacy-SSE fallback
  // included: the SDK's request timeout covers initialize only, not the SSE
  // stream's opening (a listener that accepts and never answers held it
  // for minutes, and the backend name's lock with it).
  const deadline = Date.now() + config.startTimeout;
  const attempt = async (transport: Transport, kind: string): Promise<Connection> => {
    logger.debug({ url: where, transport: kind, header_keys: Object.keys(headers).sort(), start_timeout: config.startTimeout }, 'connecting to remote backend');
    const client = newClient(hooks);
    let connection: Connection | undefined;
    /** Set when the server lost our session: the end of the link is a failure with this reason. */
    let lost: string | undefined;
    const ended = new Promise<{ reason: string; stderr: readonly string[] }>((resolve) => {
      transportClosed(transport, () => resolve({ reason: lost ?? 'the HTTP session closed', stderr: [] }));
    });
    // Set before connect(): the SDK's Protocol keeps an onerror it finds.
    if (transport instanceof StreamableHTTPClientTransport) {
      transport.onerror = (error) => {
        const fault = httpFault(error);
        if (fault === undefined || connection === undefined || lost !== undefined) return;
        if (fault.kind === 'unreachable') {
          connection.onFault?.(fault.reason);
          return;
        }
        // A session the server no longer knows fails every request: the
        // link ends (the backend initializes a new one at once). Closed on
        // the next turn, so the request that met the refusal fails with it
        // rather than with "Connection closed".
        lost = fault.reason;
        setImmediate(() => void transport.close());
      };
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('Request timed out before the attempt');
    await withinDeadline(client.connect(transport, { timeout: left }), left, () => client.close());
    logger.debug({ url: where, transport: kind, server_info: serverInfo(client) }, 'backend initialized');
    connection = new Connection({
      client,
      ended,
      shutdown: async () => {
        if (transport instanceof StreamableHTTPClientTransport && lost === undefined) await transport.terminateSession().catch(() => undefined);
        await client.close();
      },
    });
    return connection;
  };
  try {
    return await attempt(new StreamableHTTPClientTransport(url, { requestInit }), 'streamable-http');
  } catch (first) {
    logger.debug({ url: where, error: scrub(describeInitError(first, config.startTimeout), secretsOf(config)) }, 'Streamable HTTP refused; trying legacy SSE');
    try {
      return await attempt(new SSEClientTransport(url, { requestInit }), 'sse');
    } catch (second) {
      // A timeout in either attempt is the news (the other one's refusal says less).
      const timedOut = [first, second].some((e) => e instanceof Error && /timed out/i.test(e.message));
      const why = timedOut
        ? `no MCP answer within start_timeout (${config.startTimeout} ms), Streamable HTTP and the legacy-SSE fallback together; is the URL an MCP endpoint, and does the server answer?`
        : scrub(describeInitError(first, config.startTimeout), secretsOf(config));
      throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${config.name}' at ${where} did not accept an MCP connection: ${why}`);
    }
  }
}

/** Settles like `work`, or rejects with a timeout after `ms`, calling `abandon` (which closes the transport, so no fetch is left open). */
async function withinDeadline(work: Promise<void>, ms: number, abandon: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void abandon().catch(() => undefined);
      reject(new Error('Request timed out: start_timeout ran out while connecting'));
    }, ms);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watches a transport's close. Set before connect(): the SDK's Protocol
 * keeps an onclose it finds and calls it before its own.
 */
function transportClosed(transport: Transport, callback: () => void): void {
  transport.onclose = callback;
}

/** The backend's name and version from its initialize answer, for the debug log. */
function serverInfo(client: Client): { name: string; version: string } | null {
  const info = client.getServerVersion();
  return info === undefined ? null : { name: info.name, version: info.version };
}

function describeInitError(err: unknown, timeout: number): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/timed out/i.test(message)) return `no answer to initialize within ${timeout} ms`;
  return message;
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
