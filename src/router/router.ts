import { type CallToolResult, McpError, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Catalog, CatalogTool } from '../catalog/catalog.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import type { Connection, Downstream } from '../pool/connection.js';
import type { Backend } from '../supervisor/backend.js';
import { httpFault } from '../supervisor/http-fault.js';
import { MalformedResponse } from '../supervisor/line-transport.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { Breaker } from './breaker.js';
import type { CallLog } from './call-log.js';
import { Deadline, NO_SDK_TIMEOUT } from './deadline.js';
import { type Fault, faultOf } from './fault.js';
import { ArgumentValidator } from './validate.js';

/** A tool call as every surface (REST, MCP, async dispatch) hands it to the router. */
export interface CallRequest {
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  /** Who is calling (a token name or MCP client name), for the log. */
  caller?: string;
  /** Aborting it cancels the call; the backend gets notifications/cancelled. */
  signal?: AbortSignal;
  /** Asks the backend for progress and receives it; only then does progress extend the timeout, up to the hard maximum. */
  onprogress?: (progress: Progress) => void;
  /** Per-call timeout in ms instead of the backend's. */
  timeout?: number;
  /** The setting that gave `timeout` (e.g. `[dispatch] async_timeout`), named in a TIMEOUT error. */
  timeoutSetting?: string;
  /** Called when a connection takes the call, just before tools/call is sent (async dispatch records `running` then). */
  onstart?: () => void;
  /** Restricts which backends the caller may reach (a per-connection or per-token view). */
  servers?: ReadonlySet<string>;
  /** The calling agent, for server-to-client requests the backend makes during the call. */
  downstream?: Downstream;
  /** The calling MCP session: a backend with affinity = "session" runs the call on the session's own connection. */
  session?: SessionRef;
}

/** What a forwarded request must pass to the SDK: the gateway's deadline (with the caller's cancel) instead of the SDK's timer. */
export interface ForwardOptions {
  signal: AbortSignal;
  timeout: number;
}

export interface CallOutcome {
  result: CallToolResult;
  server: string;
  tool: string;
  duration_ms: number;
}

/** Runs before the router's own steps; may refuse, rewrite, or observe a call. */
export type CallMiddleware = (request: CallRequest, next: (request: CallRequest) => Promise<CallOutcome>) => Promise<CallOutcome>;

export interface RouterOptions {
  supervisor: Supervisor;
  catalog: Catalog;
  callLog: CallLog;
  logger: Logger;
  /** Called when a backend's tool listing is older than schema_cache_ttl. */
  onStale?: (server: string) => void;
}

// The gateway passes results through untouched: no re-validation of the
// backend's answer on the hot path, the agent's own client does that.
const PassthroughResult = z.looseObject({});

/**
 * call(server, tool, arguments): resolve, validate, then breaker → pool →
 * connection, with a per-call deadline. Every call is recorded.
 */
export class Router {
  readonly #options: RouterOptions;
  readonly #validator: ArgumentValidator;
  readonly #breakers = new Map<string, Breaker>();
  readonly #middleware: CallMiddleware[] = [];
  #chain: (request: CallRequest) => Promise<CallOutcome>;

  constructor(options: RouterOptions) {
    this.#options = options;
    this.#validator = new ArgumentValidator(options.logger);
    this.#chain = (request) => this.#route(request);
  }

  /** Adds a middleware; the first added runs first. */
  use(middleware: CallMiddleware): void {
    this.#middleware.push(middleware);
    this.#chain = this.#middleware.reduceRight<(request: CallRequest) => Promise<CallOutcome>>(
      (next, mw) => (request) => mw(request, next),
      (request) => this.#route(request),
    );
  }

  call(request: CallRequest): Promise<CallOutcome> {
    return this.#chain(request);
  }

  /**
   * Sends something other than a tool call (resources, prompts, completion)
   * to a backend through the same breaker and pool. Not recorded in the call
   * log, which is about tool calls. With `session`, a backend with affinity
   * = "session" serves it on the session's own connection.
   */
  async forward<T>(
    server: string,
    what: string,
    fn: (connection: Connection, options: ForwardOptions) => Promise<T>,
    signal?: AbortSignal,
    session?: SessionRef,
  ): Promise<T> {
    const backend = this.#options.supervisor.get(server);
    const timeout = backend.config.timeout;
    return this.breaker(server).fire(() =>
      backend.use(async (connection) => {
        const deadline = new Deadline(timeout, timeout, signal);
        try {
          return await fn(connection, { signal: deadline.signal, timeout: NO_SDK_TIMEOUT });
        } catch (err) {
          throw await describeFailure(err, { server, tool: what, connection, backend, deadline, signal });
        } finally {
          deadline.clear();
        }
      }, session),
    );
  }

  /** The breaker of a backend, created on first use. */
  breaker(server: string): Breaker {
    let breaker = this.#breakers.get(server);
    if (breaker === undefined) {
      const backend = this.#options.supervisor.get(server);
      breaker = new Breaker(server, backend.config.breaker, this.#options.logger.child({ backend: server }));
      this.#breakers.set(server, breaker);
    }
    return breaker;
  }

  /**
   * Throws INVALID_ARGUMENTS when the arguments break the tool's input
   * schema; a tool the catalog does not list (yet) is left to the call.
   * The async surfaces check before they accept a call, so a bad argument
   * is refused at once instead of failing later.
   */
  checkArguments(server: string, tool: string, args: Record<string, unknown> | undefined): void {
    const resolved = this.#options.catalog.resolve(server, tool);
    if (resolved !== undefined) this.#checkArguments(resolved, args ?? {});
  }

  #checkArguments(resolved: CatalogTool, args: Record<string, unknown>): void {
    const { server, name: tool } = resolved;
    const problem = this.#validator.check(`${server}\u0000${tool}\u0000${resolved.fingerprint}`, resolved.inputSchema, args);
    if (problem !== undefined) {
      throw new GatewayError('INVALID_ARGUMENTS', `Invalid arguments for ${server}/${tool}: ${problem}`);
    }
  }

  /** Shuts a removed backend's breaker down. */
  drop(server: string): void {
    this.#breakers.get(server)?.shutdown();
    this.#breakers.delete(server);
  }

  async #route(request: CallRequest): Promise<CallOutcome> {
    const started = performance.now();
    const { server, tool } = request;
    const attempt: Attempt = { retried: false };
    // Per-call routing at debug, for the troubleshooting section: who called
    // what and how it ended. Never the arguments (they may hold secrets).
    // Checked once per call: the hot path builds no log objects at info.
    const log = this.#options.logger.isLevelEnabled('debug') ? this.#options.logger : undefined;
    log?.debug({ backend: server, tool, agent: request.caller ?? null }, 'routing call');
    try {
      const result = await this.#invoke(request, attempt);
      const duration = performance.now() - started;
      this.#record(request, result.isError === true ? 'error' : 'success', null, duration, attempt.retried, result.isError === true ? 'tool' : undefined);
      log?.debug({ backend: server, tool, status: result.isError === true ? 'error' : 'success', duration_ms: Math.round(duration) }, 'call finished');
      return { result, server, tool, duration_ms: Math.round(duration) };
    } catch (err) {
      const error = toGatewayError(err);
      log?.debug({ backend: server, tool, status: 'error', code: error.code, duration_ms: Math.round(performance.now() - started) }, 'call failed');
      // A name no backend has is the caller's typo, not a backend's call:
      // recording it would let clients grow the per-backend stats at will.
      if (error.code !== 'UNKNOWN_SERVER')
        this.#record(request, error.code === 'TIMEOUT' ? 'timeout' : 'error', error.code, performance.now() - started, attempt.retried, faultOf(error));
      throw error;
    }
  }

  async #invoke(request: CallRequest, attempt: Attempt): Promise<CallToolResult> {
    const { server, tool } = request;
    const { supervisor, catalog } = this.#options;
    if (request.servers !== undefined && !request.servers.has(server)) {
      throw new GatewayError('UNKNOWN_SERVER', `No backend named '${server}' in this view; the connection is limited to: ${[...request.servers].join(', ')}`);
    }
    const backend = supervisor.get(server);
    let resolved = catalog.resolve(server, tool);
    if (resolved === undefined && !catalog.has(server)) {
      // No listing at all means the backend is not serving: say that (or
      // wait for a start in progress), not "unknown tool".
      await backend.use(async () => undefined);
      resolved = catalog.resolve(server, tool);
    }
    if (resolved === undefined) {
      throw new GatewayError('UNKNOWN_TOOL', `Backend '${server}' has no tool '${tool}'; GET /tools/${server} lists its tools`);
    }
    if (catalog.isStale(server)) this.#options.onStale?.(server);
    const args = request.arguments ?? {};
    this.#checkArguments(resolved, args);
    const timeout = request.timeout ?? backend.config.timeout;
    const debug = this.#options.logger.isLevelEnabled('debug');
    const send = (): Promise<CallToolResult> =>
      this.breaker(server).fire(() =>
        backend.use(async (connection) => {
          if (debug) this.#options.logger.debug({ backend: server, tool, pid: connection.pid ?? null, timeout_ms: timeout }, 'call sent to backend connection');
          const downstream = request.downstream;
          if (downstream !== undefined) connection.downstreams.add(downstream);
          request.onstart?.();
          // Progress extends the deadline only for a caller that asked for
          // it (and then reads it); otherwise the backend is not asked for
          // progress, and the timeout is hard.
          const onprogress = request.onprogress;
          const deadline = new Deadline(timeout, onprogress === undefined ? timeout : Math.max(timeout, backend.config.maxTimeout), request.signal);
          try {
            return (await connection.client.request({ method: 'tools/call', params: { name: tool, arguments: args } }, PassthroughResult, {
              signal: deadline.signal,
              timeout: NO_SDK_TIMEOUT,
              ...(onprogress === undefined
                ? {}
                : {
                    onprogress: (progress: Progress) => {
                      deadline.extend();
                      onprogress(progress);
                    },
                  }),
            })) as CallToolResult;
          } catch (err) {
            throw await describeFailure(err, {
              server,
              tool,
              setting: request.timeout === undefined ? undefined : request.timeoutSetting,
              connection,
              backend,
              deadline,
              signal: request.signal,
            });
          } finally {
            deadline.clear();
            if (downstream !== undefined) connection.downstreams.delete(downstream);
          }
        }, request.session),
      );
    try {
      return await send();
    } catch (err) {
      // A crash mid-call leaves the tool's effect unknown; a tool that says
      // it has none (read-only) or may repeat it (idempotent) is sent once
      // more, to the restarted backend (use() waits for it to run again).
      const annotations = resolved.definition.annotations;
      const repeatable = annotations?.readOnlyHint === true || annotations?.idempotentHint === true;
      // A call the backend refused unseen (its HTTP session was lost) had no effect: it is sent once more, whatever the tool.
      const unsent = err instanceof GatewayError && err.details?.unsent === true;
      if (!unsent && (!repeatable || !backend.config.supervisor.retry_on_crash || !crashed(err))) throw err;
      if (request.signal?.aborted === true) throw err;
      attempt.retried = true;
      this.#options.logger.info(
        { backend: server, tool, retried: true, error: (err as Error).message },
        unsent ? 'call sent again on a new session' : 'call retried after backend crash',
      );
      return send();
    }
  }

  #record(
    request: CallRequest,
    status: 'success' | 'error' | 'timeout',
    code: GatewayError['code'] | null,
    duration: number,
    retried: boolean,
    fault?: Fault,
  ): void {
    this.#options.callLog.add(
      {
        time: new Date().toISOString(),
        agent: request.caller ?? null,
        server: request.server,
        tool: request.tool,
        status,
        code,
        ...(fault === undefined ? {} : { fault }),
        duration_ms: Math.round(duration * 100) / 100,
        ...(retried ? { retried: true } : {}),
      },
      request,
    );
  }
}

/** What happened to one call on its way, for its call-log record. */
interface Attempt {
  retried: boolean;
}

/** Whether a call failed only because its backend crashed under it. */
function crashed(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'BACKEND_UNAVAILABLE' && err.details?.crashed === true;
}

interface FailureContext {
  server: string;
  tool: string;
  /** The setting that gave the timeout, when it is not the backend's own. */
  setting?: string | undefined;
  connection: Connection;
  backend: Backend;
  deadline: Deadline;
  signal: AbortSignal | undefined;
}

/**
 * Turns what the SDK client threw into the gateway's error for it. Closed
 * and timed out are facts the gateway saw itself — its link ended, its own
 * deadline expired — never codes a backend sent: a backend's JSON-RPC
 * error (-32000 and -32001 included) from a live link is BACKEND_ERROR
 * with its code, and the breaker does not count it (see breaker.ts).
 */
async function describeFailure(err: unknown, ctx: FailureContext): Promise<GatewayError> {
  if (err instanceof GatewayError) return err;
  if (ctx.deadline.expired(err)) return describeExpiry(ctx);
  if (ctx.signal?.aborted === true) {
    return new GatewayError('CANCELLED', `Call to ${ctx.server}/${ctx.tool} was cancelled by the caller; the backend was sent notifications/cancelled`);
  }
  // The SDK drops its transport before it fails the requests of a closed
  // link (and answers "Not connected" to one sent a moment later).
  if (ctx.connection.client.transport === undefined) return describeClosed(ctx);
  if (err instanceof McpError && err.data instanceof MalformedResponse) {
    return new GatewayError(
      'BACKEND_ERROR',
      `Backend '${ctx.server}' answered ${ctx.tool} with a malformed JSON-RPC response (${err.data.problem}); the backend is broken, not the call`,
      {
        details: { malformed: true },
      },
    );
  }
  if (err instanceof McpError) {
    return new GatewayError(
      'BACKEND_ERROR',
      `Backend '${ctx.server}' answered ${ctx.tool} with error ${err.code}: ${err.message.replace(/^MCP error -?\d+: /, '')}`,
      {
        details: { backend_code: err.code },
      },
    );
  }
  // The SDK's answer to a request on a client whose transport has just
  // closed: the same end, seen a moment earlier.
  if (err instanceof Error && err.message === 'Not connected') return describeClosed(ctx);
  const fault = httpFault(err);
  if (fault?.kind === 'session') {
    // The link ends now and the backend makes a new session; once its end is
    // in, use() waits for the new one, so the call can be sent again.
    await Promise.race([ctx.connection.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000))]);
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${fault.reason}; ${ctx.tool} did not reach it, retry it`, {
      retryAfter: 1,
      details: { unsent: true },
    });
  }
  if (fault?.kind === 'unreachable') {
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${fault.reason} (during ${ctx.tool}); retry once the server is back`, {
      retryAfter: 1,
    });
  }
  return new GatewayError('BACKEND_UNAVAILABLE', `Call to ${ctx.server}/${ctx.tool} failed: ${(err as Error).message ?? String(err)}`);
}

/**
 * TIMEOUT, quoting the limit the deadline really applied and the setting
 * that gave it: the backend's timeout ([gateway] request_timeout unless the
 * backend sets its own), a per-call one (async_timeout), or the hard
 * maximum that ended a call progress kept extending.
 */
function describeExpiry(ctx: FailureContext): GatewayError {
  const { ms, capped } = ctx.deadline.applied();
  const sent = 'it was sent notifications/cancelled';
  if (capped) {
    return new GatewayError(
      'TIMEOUT',
      `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms, the limit even with progress ([gateway] max_request_timeout, or the backend's timeout when larger); ${sent}. Raise max_request_timeout if the tool is slow`,
    );
  }
  if (ctx.setting !== undefined)
    return new GatewayError(
      'TIMEOUT',
      `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms (${ctx.setting}); ${sent}. Raise ${ctx.setting} if the tool is slow`,
    );
  return new GatewayError(
    'TIMEOUT',
    `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms; ${sent}. Raise the backend's timeout if the tool is slow`,
  );
}

/**
 * A call whose connection closed under it. What the caller is told follows
 * from why: an operator's stop, remove or restart cut it (no fault of the
 * backend, `cut_by`; only a restart is worth retrying soon), or the link
 * died (`crashed`: only then may a repeatable call be retried), and then
 * whether the backend is being restarted, still serves on other
 * connections, or has failed for good.
 */
async function describeClosed(ctx: FailureContext): Promise<GatewayError> {
  const during = `while ${ctx.tool} was running; the call was cut off`;
  switch (ctx.connection.closedBy) {
    case 'stop':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' was stopped (POST /server/stop) ${during}. Start it with POST /server/start, then call again`,
        { details: { cut_by: 'stop' } },
      );
    case 'remove':
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' was removed (POST /server/remove) ${during}`, { details: { cut_by: 'remove' } });
    case 'restart':
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' was restarted (POST /server/restart) ${during}; call again once it runs`, {
        retryAfter: 1,
        details: { cut_by: 'restart' },
      });
    case 'shutdown':
      return new GatewayError('BACKEND_UNAVAILABLE', `The gateway is shutting down; ${ctx.server}/${ctx.tool} was cut off`, {
        details: { cut_by: 'shutdown' },
      });
  }
  const end = await Promise.race([ctx.connection.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
  if (end?.expected === true) {
    return new GatewayError('BACKEND_UNAVAILABLE', `The gateway closed its connection to backend '${ctx.server}' ${during}; call again`, { retryAfter: 1 });
  }
  // No end yet: the link closed, but how is not known.
  if (end === undefined)
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' closed the connection during ${ctx.tool}; retry shortly`, { retryAfter: 1 });
  const crashed = { crashed: true };
  switch (ctx.backend.state) {
    case 'failed':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool} and has failed: ${ctx.backend.info().last_error ?? 'unknown error'}; fix it and POST /server/restart`,
        { details: crashed },
      );
    case 'stopped':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; it is stopped, start it with POST /server/start`,
        { details: crashed },
      );
    case 'running':
    case 'degraded':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; its other connections still serve, retry shortly`,
        { retryAfter: 1, details: crashed },
      );
    default:
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; it is being restarted, retry shortly`, {
        retryAfter: 1,
        details: crashed,
      });
  }
}
