import type { CallToolResult, Progress } from '@modelcontextprotocol/client';
import { z } from 'zod';
import type { CatalogTool } from '../catalog/catalog.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import { paramsFor, type RoundFields, withoutEnvelope } from '../pool/backend-era.js';
import type { Connection } from '../pool/connection.js';
import { type BackendTaskEra, backendTaskEra, backendTaskStatus, callAsBackendTask, refusedWithoutTask, refuseUnaskedTask } from './backend-task.js';
import { Breaker, type CircuitState } from './breaker.js';
import { type CallTrace, callTraceId, endCallTrace, forwardTrace, startCallTrace, toolRequestTrace, waited } from './call-trace.js';
import type { CallMiddleware, CallOutcome, CallRequest, ForwardOptions, RouterOptions } from './call-types.js';
import { Deadline, NO_SDK_TIMEOUT } from './deadline.js';
import { describeFailure } from './failure.js';
import { type Fault, faultOf } from './fault.js';
import { answer, inputRounds } from './input-rounds.js';
import { mirroredParamHeaders } from './param-headers.js';
import { ArgumentValidator } from './validate.js';

// The router's contract (a call, its outcome, forward options, middleware): call-types.ts.
export type { CallMiddleware, CallOutcome, CallRequest, ForwardOptions, RouterOptions } from './call-types.js';

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
  readonly #circuitListeners: ((server: string, to: CircuitState) => void)[] = [];
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
        // [otel] A client span per forwarded request (tracing on); its context goes on with the request (call-trace.ts).
        const { span, ...traced } = forwardTrace(backend.config, what, connection.pid, signal);
        try {
          return await fn(connection, { signal: deadline.signal, timeout: NO_SDK_TIMEOUT, ...traced });
        } catch (err) {
          const failure = await describeFailure(err, { server, tool: what, connection, backend, deadline, signal });
          span?.fail(failure.code, failure.message);
          throw failure;
        } finally {
          span?.end();
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
      const changed = (to: CircuitState): void => {
        for (const listener of this.#circuitListeners) listener(server, to);
      };
      breaker = new Breaker(server, backend.config.breaker, this.#options.logger.child({ backend: server }), changed);
      this.#breakers.set(server, breaker);
    }
    return breaker;
  }

  /** [dashboard] Hears every circuit transition of every backend (supervisor/history.ts). */
  onCircuit(listener: (server: string, to: CircuitState) => void): void {
    this.#circuitListeners.push(listener);
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
    if (this.#options.checkedByBackend?.has(server) === true) return;
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
    // [otel] The caller's trace context, and the call's span (tracing on): call-trace.ts.
    const attempt: Attempt = { retried: false, ...startCallTrace(request) };
    // Per-call routing at debug, for the troubleshooting section: who called
    // what and how it ended. Never the arguments (they may hold secrets).
    // Checked once per call: the hot path builds no log objects at info.
    const log = this.#options.logger.isLevelEnabled('debug') ? this.#options.logger : undefined;
    log?.debug({ backend: server, tool, agent: request.caller ?? null, trace_id: callTraceId(attempt) }, 'routing call');
    try {
      // [mcp-bridge] A 2026-07-28 backend's input_required: relayed or answered round by round (input-rounds.ts).
      const rounds = { server, what: `tools/call ${tool}`, downstream: request.downstream, roots: () => this.#options.supervisor.get(server).config.roots };
      const result = await inputRounds(rounds, request.round ?? {}, (round) => this.#invoke(request, attempt, round));
      const duration = performance.now() - started;
      this.#record(request, result.isError === true ? 'error' : 'success', null, duration, attempt, result.isError === true ? 'tool' : undefined);
      const status = result.isError === true ? 'error' : 'success';
      endCallTrace(attempt, status, attempt.retried, this.#breakers.get(server)?.state, result.isError === true ? 'tool_error' : undefined);
      log?.debug({ backend: server, tool, status, duration_ms: Math.round(duration), trace_id: callTraceId(attempt) }, 'call finished');
      return { result, server, tool, duration_ms: Math.round(duration) };
    } catch (err) {
      const error = toGatewayError(err);
      const ms = Math.round(performance.now() - started);
      log?.debug({ backend: server, tool, status: 'error', code: error.code, duration_ms: ms, trace_id: callTraceId(attempt) }, 'call failed');
      endCallTrace(attempt, error.code === 'TIMEOUT' ? 'timeout' : 'error', attempt.retried, this.#breakers.get(server)?.state, error.code, error.message);
      // A name no backend has is the caller's typo, not a backend's call:
      // recording it would let clients grow the per-backend stats at will.
      if (error.code !== 'UNKNOWN_SERVER')
        this.#record(request, error.code === 'TIMEOUT' ? 'timeout' : 'error', error.code, performance.now() - started, attempt, faultOf(error));
      throw error;
    }
  }

  async #invoke(request: CallRequest, attempt: Attempt, round: RoundFields): Promise<CallToolResult> {
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
    if (catalog.isStale(server)) void this.#options.onStale?.(server);
    const args = request.arguments ?? {};
    this.#checkArguments(resolved, args);
    const timeout = request.timeout ?? backend.config.timeout;
    const debug = this.#options.logger.isLevelEnabled('debug');
    const send = (): Promise<CallToolResult> => {
      const asked = attempt.span?.recording === true ? performance.now() : 0; // [otel] the pool's wait (waited() below)
      return this.breaker(server).fire(() =>
        backend.use(async (connection) => {
          waited(attempt.span, server, asked);
          if (debug) this.#options.logger.debug({ backend: server, tool, pid: connection.pid ?? null, timeout_ms: timeout }, 'call sent to backend connection');
          const downstream = request.downstream;
          if (downstream !== undefined) connection.downstreams.add(downstream);
          request.onstart?.();
          // Progress extends the deadline only for a caller that asked for
          // it (and then reads it); otherwise the backend is not asked for
          // progress, and the timeout is hard.
          const onprogress = request.onprogress;
          const deadline = new Deadline(timeout, onprogress === undefined ? timeout : Math.max(timeout, backend.config.maxTimeout), request.signal);
          // [mcp-bridge] The time a 2026-07-28 caller takes to answer a parked backend request does not count.
          downstream?.onDeadline?.(deadline);
          // [otel] The backend request's span; its context replaces the caller's in `_meta` (and the headers of an HTTP backend).
          const { span: client, trace, headers: traced } = toolRequestTrace(attempt, backend.config, tool, connection.pid);
          try {
            // [mcp-bridge] A 2026-07-28 backend is told the caller's capabilities; its input_required comes back as a result.
            const params = paramsFor(connection, { name: tool, arguments: args }, downstream, round, trace);
            // [mcp-ext] Toward a 2026-07-28 backend, the tool's x-mcp-header arguments go as Mcp-Param-* headers too.
            const mirrored = connection.era === 'modern' ? mirroredParamHeaders((catalog.resolve(server, tool) ?? resolved).inputSchema, args) : undefined;
            const headers = traced === undefined ? mirrored : { ...traced, ...mirrored };
            // [mcp-ext] A tool whose backend requires a task runs as one there (backend-task.ts): a 2025 tool says so in its
            // listing; a 2026-07-28 listing does not, and the backend's -32021 for the Tasks extension says it instead.
            const asTask = async (era: BackendTaskEra): Promise<CallToolResult> => {
              const onstatus = backendTaskStatus(onprogress, deadline);
              const ttl = Math.max(timeout, backend.config.maxTimeout);
              const relay = era === 'modern' && downstream?.takesTasks === true;
              const task = { client: connection.client, era, params, signal: deadline.signal, ttl, headers, onstatus, relay };
              const asking = { server, what: `tools/call ${tool}`, downstream, roots: () => backend.config.roots };
              const ask = (method: string, p: Record<string, unknown> | undefined) => answer(asking, method, p);
              return withoutEnvelope(connection, await callAsBackendTask({ ...task, ask, server, tool, logger: this.#options.logger }));
            };
            const taskEra = backendTaskEra(connection, resolved.definition.execution?.taskSupport);
            if (taskEra !== undefined) return await asTask(taskEra);
            // [speed] A plain call (no progress asked) on a 2025 stdio link skips the SDK Protocol (supervisor/lean-calls.ts).
            const lean = onprogress === undefined ? connection.lean : undefined;
            let result: CallToolResult;
            try {
              // [speed] Awaited in this try rather than through a .catch: no closure and no extra promise per call.
              result = (await (lean?.request('tools/call', params, deadline) ?? // [speed] the deadline itself: no AbortSignal per call
                connection.client.request({ method: 'tools/call', params }, PassthroughResult, {
                  signal: deadline.signal,
                  timeout: NO_SDK_TIMEOUT,
                  allowInputRequired: true,
                  ...(headers === undefined ? {} : { headers }),
                  ...(onprogress === undefined
                    ? {}
                    : {
                        onprogress: (progress: Progress) => {
                          deadline.extend();
                          onprogress(progress);
                        },
                      }),
                }))) as CallToolResult;
            } catch (err) {
              if (!refusedWithoutTask(err, connection)) throw err;
              // A task asked for after the backend's -32021 is no unasked one (asTask handed it over or polled it).
              return await asTask('modern');
            }
            refuseUnaskedTask(result, server, tool);
            return withoutEnvelope(connection, result);
          } catch (err) {
            const failure = await describeFailure(err, {
              server,
              tool,
              setting: request.timeout === undefined ? undefined : request.timeoutSetting,
              connection,
              backend,
              deadline,
              signal: request.signal,
            });
            client?.fail(failure.code, failure.message);
            throw failure;
          } finally {
            client?.end();
            deadline.clear();
            if (downstream !== undefined) connection.downstreams.delete(downstream);
          }
        }, request.session),
      );
    };
    try {
      return await send();
    } catch (err) {
      if (headerMismatch(err) && this.#options.onStale !== undefined) {
        // [mcp-ext] The backend refused the Mcp-Param-* headers (-32020): its schema changed unannounced. As the spec asks
        // of a client (streamable-http §Custom Headers), its tools are listed again and the call is sent once more.
        await this.#options.onStale(server);
        return send();
      }
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
        { backend: server, tool, retried: true, error: (err as Error).message, trace_id: callTraceId(attempt) },
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
    attempt: Attempt,
    fault?: Fault,
  ): void {
    const traceId = callTraceId(attempt); // [otel] /log's trace_id
    this.#options.callLog.add(
      {
        time: isoNow(),
        agent: request.caller ?? null,
        server: request.server,
        tool: request.tool,
        status,
        code,
        ...(fault === undefined ? {} : { fault }),
        duration_ms: Math.round(duration * 100) / 100,
        ...(attempt.retried ? { retried: true } : {}),
        ...(traceId === null ? {} : { trace_id: traceId }),
      },
      request,
    );
  }
}

/** What happened to one call on its way, for its call-log record; [otel] and its trace (call-trace.ts). */
interface Attempt extends CallTrace {
  retried: boolean;
}

/** [speed] The time now as an ISO string, made once per millisecond: the calls of one read of a backend's answers share it. */
let nowMs = -1;
let nowIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowMs = ms;
    nowIso = new Date(ms).toISOString();
  }
  return nowIso;
}

/** Whether a backend refused a call's headers as not matching its body (2026-07-28 HeaderMismatch, -32020). */
function headerMismatch(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'BACKEND_ERROR' && err.details?.backend_code === -32020;
}

/** Whether a call failed only because its backend crashed under it. */
function crashed(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'BACKEND_UNAVAILABLE' && err.details?.crashed === true;
}
