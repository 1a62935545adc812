import { randomBytes } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Router } from '../router/router.js';
import type { AsyncCall, CallFilter, DispatchStore } from '../store/dispatch-store.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { TraceCarrier } from '../telemetry/telemetry.js';
import type { InputRequest, TaskInbox } from './task-input.js';

export interface DispatchSettings {
  /** Calls kept at once (running and finished); past it, DISPATCH_FULL. */
  max_entries: number;
  /** Seconds a finished call stays readable. */
  result_ttl: number;
  /** ms an async call may run (instead of request_timeout). */
  async_timeout: number;
  /** ms one await may block at most. */
  max_await: number;
}

export interface SubmitRequest {
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  /** Who submitted, for the call log. */
  caller?: string;
  /** Who may read it; null means anyone with the id. */
  owner?: string | null;
  /** Restricts which backends the submitter may reach. */
  servers?: ReadonlySet<string>;
  /** [mcp-ext] Where the backend's questions wait for the caller's tasks/update (a Tasks-extension task); none: refused. */
  inbox?: TaskInbox;
  /** [otel] The submitter's W3C trace context (REST headers, MCP `_meta`): the call carries it to the backend. */
  traceContext?: TraceCarrier;
}

/** What gate_poll, GET /call/{id} and tasks/get show of a call. */
export interface CallView {
  call_id: string;
  status: AsyncCall['state'];
  server: string;
  tool: string;
  submitted_at: string;
  started_at: string | null;
  finished_at: string | null;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  progress?: NonNullable<AsyncCall['progress']>;
}

interface Live {
  /** The call as it is now. */
  call: AsyncCall;
  controller: AbortController;
  waiters: Set<() => void>;
  progress: AsyncCall['progress'];
  inbox: TaskInbox | undefined;
}

export interface DispatchOptions {
  router: Router;
  supervisor: Supervisor;
  catalog: Catalog;
  store: DispatchStore;
  settings: DispatchSettings;
  logger: Logger;
}

/**
 * Async calls: call_id → state, result or error, times. A call is stored
 * before its id is handed out and on every change of state, runs through
 * the same router (breaker, pool) with its own longer timeout, and stays
 * readable for result_ttl once finished. Calls that were pending or running
 * when a previous gateway died come back failed with INTERRUPTED.
 */
export class DispatchTable {
  readonly #o: DispatchOptions;
  readonly #live = new Map<string, Live>();
  /** Waiters of calls that finished since their last read (woken on finish). */
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;
  /** Calls in the store, kept here so that a submit does not count rows. */
  #stored = 0;
  /** Calls that started running since the last write of that state (written together, see #started). */
  #starting: AsyncCall[] = [];
  /** [mcp-ext] Told of each change of a call running here (task status on subscriptions/listen). */
  readonly #watchers = new Set<(call: AsyncCall) => void>();

  constructor(options: DispatchOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const interrupted = await this.#o.store.interruptUnfinished(Date.now(), this.#o.settings.result_ttl * 1000);
    if (interrupted > 0) this.#o.logger.warn({ calls: interrupted }, 'async calls left running by the previous gateway are now failed/INTERRUPTED');
    await this.#o.store.expire(Date.now());
    this.#stored = await this.#o.store.count();
    this.#sweep = setInterval(() => void this.#expire().catch(() => undefined), 60_000);
    this.#sweep.unref();
    // A shared store: another gateway may be asked to cancel a call running here.
    this.#o.store.onCancelRequest?.((id) => this.#live.get(id)?.controller.abort('cancelled'));
  }

  /** Stores the call, starts it, and returns it (pending or already running). */
  async submit(request: SubmitRequest): Promise<AsyncCall> {
    if (this.#closed) throw new GatewayError('BACKEND_UNAVAILABLE', 'The gateway is stopping; submit the call again to the next one');
    const { store, settings, supervisor, catalog } = this.#o;
    if (request.servers !== undefined && !request.servers.has(request.server)) {
      throw new GatewayError('UNKNOWN_SERVER', `No backend named '${request.server}' in this view`);
    }
    supervisor.get(request.server);
    if (catalog.has(request.server) && catalog.resolve(request.server, request.tool) === undefined) {
      throw new GatewayError('UNKNOWN_TOOL', `Backend '${request.server}' has no tool '${request.tool}'; GET /tools/${request.server} lists its tools`);
    }
    this.#o.router.checkArguments(request.server, request.tool, request.arguments);
    if (this.#stored >= settings.max_entries) {
      await this.#expire();
      if (this.#stored >= settings.max_entries) {
        throw new GatewayError(
          'DISPATCH_FULL',
          `The async dispatch table is full (${settings.max_entries} calls kept; [dispatch] max_entries); await or cancel calls, or retry when results expire`,
          {
            retryAfter: 5,
          },
        );
      }
    }
    const call: AsyncCall = {
      // 128 random bits: ids are capabilities when no auth identifies callers.
      id: `call_${randomBytes(16).toString('base64url')}`,
      state: 'pending',
      server: request.server,
      tool: request.tool,
      caller: request.caller ?? null,
      owner: request.owner ?? null,
      submitted_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
      expires_at: null,
      result: null,
      error: null,
      progress: null,
    };
    await store.insert(call);
    this.#stored += 1;
    const live: Live = { call, controller: new AbortController(), waiters: new Set(), progress: null, inbox: request.inbox };
    if (request.inbox !== undefined) request.inbox.onchange = () => this.#changed(call);
    this.#live.set(call.id, live);
    // [otel] The call keeps its submitter's context (the submitting request's span's while it is recorded: telemetry.ts submitterContext).
    void this.#run(call, request, live);
    return call;
  }

  async #run(call: AsyncCall, request: SubmitRequest, live: Live): Promise<void> {
    try {
      const outcome = await this.#o.router.call({
        server: request.server,
        tool: request.tool,
        arguments: request.arguments,
        caller: request.caller,
        servers: request.servers,
        ...(request.inbox === undefined ? {} : { downstream: request.inbox }),
        signal: live.controller.signal,
        timeout: this.#o.settings.async_timeout,
        timeoutSetting: '[dispatch] async_timeout',
        traceContext: request.traceContext, // [otel] linked to its submitter, in a trace of its own
        linked: true,
        onstart: () => this.#started(call),
        onprogress: (p) => {
          live.progress = {
            progress: p.progress,
            ...(p.total === undefined ? {} : { total: p.total }),
            ...(p.message === undefined ? {} : { message: p.message }),
          };
        },
      });
      call.state = 'complete';
      call.result = outcome.result as Record<string, unknown>;
    } catch (err) {
      const error = toGatewayError(err);
      if (live.controller.signal.aborted) {
        const reason: unknown = live.controller.signal.reason;
        call.state = reason === 'shutdown' ? 'failed' : 'cancelled';
        call.error =
          reason === 'shutdown'
            ? { code: 'INTERRUPTED', message: 'The gateway stopped while this call was running' }
            : { code: 'CANCELLED', message: 'Cancelled by its caller' };
      } else {
        call.state = 'failed';
        call.error = { code: error.code, message: error.message };
      }
    }
    live.inbox?.close(`the task ended ${call.state}`);
    call.progress = live.progress;
    call.finished_at = new Date().toISOString();
    call.expires_at = Date.now() + this.#o.settings.result_ttl * 1000;
    await this.#storeOutcome(call);
    this.#live.delete(call.id);
    for (const wake of live.waiters) wake();
    this.#changed(call);
  }

  /** [mcp-ext] Listens to the changes of state of the calls running in this process (started, waiting for input, finished); returns the stop. */
  onchange(listener: (call: AsyncCall) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  #changed(call: AsyncCall): void {
    for (const watcher of this.#watchers) watcher(call);
  }

  /**
   * A connection took the call: it is running. The state is written so that
   * a call interrupted by a crash says it was running (the backend may have
   * acted) rather than pending; the calls that start within one turn of the
   * event loop share one write.
   */
  #started(call: AsyncCall): void {
    if (call.state !== 'pending') return; // a retry after a backend crash
    call.state = 'running';
    call.started_at = new Date().toISOString();
    this.#changed(call);
    this.#starting.push(call);
    if (this.#starting.length > 1) return;
    setImmediate(() => {
      const batch = this.#starting.map((c) => ({ id: c.id, started_at: c.started_at }));
      this.#starting = [];
      this.#o.store
        .markRunning(batch)
        .catch((err: unknown) => this.#o.logger.error({ calls: batch.length, err }, 'could not store that async calls started running'));
    });
  }

  async #expire(): Promise<void> {
    this.#stored = Math.max(0, this.#stored - (await this.#o.store.expire(Date.now())));
  }

  /** The call, if it exists, has not expired, and `owner` may see it; else UNKNOWN_CALL. */
  async get(id: string, owner: string | null = null): Promise<AsyncCall> {
    const live = this.#live.get(id);
    const call = live?.call ?? (await this.#o.store.get(id));
    const unknown = new GatewayError('UNKNOWN_CALL', `No async call '${id}' (unknown, expired after [dispatch] result_ttl, or not yours)`);
    if (call === undefined || (call.owner !== null && owner !== call.owner)) throw unknown;
    if (call.expires_at !== null && call.expires_at <= Date.now()) throw unknown;
    if (live !== undefined) return { ...call, progress: live.progress };
    return call;
  }

  /** [mcp-ext] The questions a running task waits on (its inbox), by key; undefined when none waits. */
  inputOf(id: string): Record<string, InputRequest> | undefined {
    return this.#live.get(id)?.inbox?.pending();
  }

  /** [mcp-ext] Delivers a caller's answers (tasks/update inputResponses) to the questions its task waits on. */
  async answerInput(id: string, owner: string | null, responses: Record<string, unknown>): Promise<void> {
    await this.get(id, owner);
    this.#live.get(id)?.inbox?.answer(responses);
  }

  /** Waits until the call finishes or `timeoutMs` (capped by max_await) passes, then returns it. */
  async wait(id: string, owner: string | null, timeoutMs: number, signal?: AbortSignal): Promise<AsyncCall> {
    const call = await this.get(id, owner);
    const live = this.#live.get(id);
    if (timeoutMs <= 0) return call;
    if (live === undefined) {
      // Running on another gateway of a shared store: wait for its outcome to be stored.
      const { waitFinished } = this.#o.store;
      if (waitFinished === undefined || !unfinished(call)) return call;
      await waitFinished.call(this.#o.store, id, Math.min(timeoutMs, this.#o.settings.max_await), signal);
      return this.get(id, owner);
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        live.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(timeoutMs, this.#o.settings.max_await));
      live.waiters.add(done);
      signal?.addEventListener('abort', done);
    });
    return this.get(id, owner);
  }

  /** Cancels a pending or running call (the backend gets notifications/cancelled); a finished call is returned as it is. */
  async cancel(id: string, owner: string | null): Promise<AsyncCall> {
    const call = await this.get(id, owner);
    const live = this.#live.get(id);
    if (live === undefined) {
      // Running on another gateway of a shared store: ask it, then wait for the outcome.
      if (this.#o.store.requestCancel === undefined || !unfinished(call)) return call;
      await this.#o.store.requestCancel(id);
      return this.wait(id, owner, 5_000);
    }
    live.controller.abort('cancelled');
    return this.wait(id, owner, 5_000);
  }

  /** `owner`'s calls (every caller's with null), newest first, unexpired, `filter` applied before `limit`. */
  list(owner: string | null, limit: number, filter: Omit<CallFilter, 'now'> = {}): Promise<AsyncCall[]> {
    return this.#o.store.list(owner, limit, undefined, { ...filter, now: Date.now() });
  }

  /** Calls in flight right now. */
  get running(): number {
    return this.#live.size;
  }

  /** Stops: calls still running end failed/INTERRUPTED (written), timers stop. */
  /**
   * [pg-speed] An outcome the store refuses (a PostgreSQL restarting) is written again, 0.25 s then up to every 2 s, for up to
   * five minutes or until the table closes: the store would otherwise keep the call `running` under this gateway's lease.
   */
  async #storeOutcome(call: AsyncCall): Promise<void> {
    for (let attempt = 0, waited = 0; ; attempt++) {
      try {
        await this.#o.store.update(call);
        if (attempt > 0) this.#o.logger.info({ call_id: call.id, attempts: attempt + 1 }, 'stored async call result');
        return;
      } catch (err) {
        const delay = Math.min(250 * 2 ** attempt, 2_000);
        if (this.#closed || waited + delay > 300_000) return void this.#o.logger.error({ call_id: call.id, err }, 'could not store async call result');
        this.#o.logger.warn({ call_id: call.id, err }, 'could not store async call result; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        waited += delay;
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    const waits = [...this.#live.entries()].map(([id, live]) => {
      const finished = new Promise<void>((resolve) => live.waiters.add(resolve));
      live.controller.abort('shutdown');
      return Promise.race([finished, new Promise<void>((r) => setTimeout(r, 2_000))]).then(() => this.#live.delete(id));
    });
    await Promise.all(waits);
  }
}

const unfinished = (call: AsyncCall): boolean => call.state === 'pending' || call.state === 'running';

/** The wire form of a call. */
export function viewOf(call: AsyncCall): CallView {
  const view: CallView = {
    call_id: call.id,
    status: call.state,
    server: call.server,
    tool: call.tool,
    submitted_at: call.submitted_at,
    started_at: call.started_at,
    finished_at: call.finished_at,
  };
  if (call.result !== null) view.result = call.result;
  if (call.error !== null) view.error = call.error;
  if (call.progress !== null) view.progress = call.progress;
  return view;
}
