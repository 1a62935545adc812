import type { Client, ClientCapabilities, ClientOptions, McpSubscription, SubscriptionFilter } from '@modelcontextprotocol/client';
import {
  BAGGAGE_META_KEY,
  CLIENT_CAPABILITIES_META_KEY,
  LOG_LEVEL_META_KEY,
  SERVER_INFO_META_KEY,
  TRACEPARENT_META_KEY,
  TRACESTATE_META_KEY,
} from '@modelcontextprotocol/client';
import type { BackendConfig } from '../config/schema.js';
import { TRACEPARENT } from '../telemetry/telemetry.js';
import type { Connection, Downstream } from './connection.js';

/**
 * How a backend's connections negotiate their protocol era, from its
 * `protocol` key (docs/backends.md):
 *
 * - `2026-07-28`: pinned, no fallback (a 2025-only server fails to connect).
 * - `auto` on http: the SDK probes with `server/discover` on the connection
 *   itself and falls back to `initialize`.
 * - `auto` on stdio: connected as 2025-11-25 here; some stdio servers exit on
 *   any request before initialize, so a stdio backend is never probed in
 *   place (its era comes from a throwaway probe process, when that is given).
 * - `2025-11-25`: the plain 2025 handshake, as before.
 *
 * Modern connections take `input_required` results back as results
 * (`autoFulfill: false`): the gateway relays them to a 2026-07-28 caller or
 * answers them itself on a 2025 caller's session (router/input-rounds.ts).
 */
export function eraClientOptions(config: Pick<BackendConfig, 'protocol' | 'transport'>): Partial<ClientOptions> {
  // On every connection (no effect on a 2025 one): a connect with a cached modern verdict (`prior`) is modern too.
  const inputRequired = { autoFulfill: false };
  if (config.protocol === '2026-07-28') return { versionNegotiation: { mode: { pin: '2026-07-28' } }, inputRequired };
  if (config.protocol === 'auto' && config.transport === 'http') return { versionNegotiation: { mode: 'auto' }, inputRequired };
  return { inputRequired };
}

/**
 * A 2026-07-28 backend's result without the backend's own envelope
 * (`_meta["io.modelcontextprotocol/serverInfo"]`, which names the backend's
 * server on every result of that era): the gateway is the server its
 * clients talk to, and a 2025-era or REST caller has no envelope at all.
 * Anything else in `_meta` stays.
 */
export function withoutEnvelope<R extends object>(connection: Pick<Connection, 'era'>, result: R): R {
  if (connection.era !== 'modern') return result;
  const meta = (result as { _meta?: Record<string, unknown> })._meta;
  if (meta === undefined || !(SERVER_INFO_META_KEY in meta)) return result;
  const { [SERVER_INFO_META_KEY]: _server, ...rest } = meta;
  const { _meta: _old, ...plain } = result as R & { _meta?: unknown };
  return (Object.keys(rest).length === 0 ? plain : { ...plain, _meta: rest }) as R;
}

/**
 * The capabilities a 2026-07-28 backend is told for one request: exactly
 * what the calling agent declared — a 2026-07-28 caller's envelope, a 2025
 * session's initialize — so the backend itself refuses (-32021) what the
 * agent cannot answer. `roots` is the gateway's own: a backend's roots
 * come from its `roots` config, never an agent's, so they are declared for
 * every caller but a 2026-07-28 one (which gets the backend's
 * input_required verbatim and answers its roots itself). A caller with no
 * agent (REST, async, a stateless 2025 POST) declares nothing else.
 */
export function callerCapabilities(downstream: Downstream | undefined): ClientCapabilities {
  const declared = downstream?.capabilities() ?? {};
  if (downstream?.modern === true) return withoutTasksExtension(declared);
  const { roots: _roots, tasks: _tasks, ...rest } = declared;
  return { ...rest, roots: {} };
}

/**
 * [mcp-ext] A 2026-07-28 caller's capabilities without the Tasks extension:
 * a backend must not answer a plain call with a task. The gateway declares
 * the extension itself when the backend refuses the call without it
 * (router/backend-task.ts), and then polls the task or hands it to a caller
 * that declared the extension (mcp/relayed-task.ts); the gateway's own
 * tasks come from task_tools (mcp/task-extension.ts).
 */
function withoutTasksExtension(declared: ClientCapabilities): ClientCapabilities {
  const extensions = declared.extensions as Record<string, unknown> | undefined;
  if (extensions === undefined || !('io.modelcontextprotocol/tasks' in extensions)) return declared;
  const { 'io.modelcontextprotocol/tasks': _tasks, ...others } = extensions;
  const { extensions: _all, ...rest } = declared;
  return Object.keys(others).length === 0 ? rest : { ...rest, extensions: others as ClientCapabilities['extensions'] };
}

/**
 * The `_meta` a request to a 2026-07-28 backend carries for its caller:
 * the caller's capabilities and, when it sent one, its log level. The SDK
 * client adds the rest of the envelope (protocol version, client info);
 * keys given here take precedence over its own.
 */
export function callerMeta(downstream: Downstream | undefined): Record<string, unknown> {
  const level = downstream?.logLevel?.();
  return {
    [CLIENT_CAPABILITIES_META_KEY]: callerCapabilities(downstream),
    ...(level === undefined ? {} : { [LOG_LEVEL_META_KEY]: level }),
  };
}

/** The multi-round-trip fields of a retry (2026-07-28), passed to a modern backend untouched. */
export interface RoundFields {
  inputResponses?: unknown;
  requestState?: unknown;
}

/**
 * The `_meta` keys of W3C trace context (basic §_meta: `traceparent`,
 * `tracestate`, `baggage`, reserved for OpenTelemetry in both eras): passed
 * from the caller's request to the backend's verbatim. Nothing else of the
 * caller's `_meta` goes with a tool call (its progress token is the
 * gateway's to set, its envelope keys are the gateway's own: callerMeta).
 */
const TRACE_CONTEXT_KEYS = [TRACEPARENT_META_KEY, TRACESTATE_META_KEY, BAGGAGE_META_KEY];

/** The trace context of a request's `_meta` (its string values under TRACE_CONTEXT_KEYS), or undefined without any. */
export function traceContextOf(meta: unknown): Record<string, string> | undefined {
  if (meta === null || typeof meta !== 'object') return undefined;
  const found: Record<string, string> = {};
  for (const key of TRACE_CONTEXT_KEYS) {
    const value = (meta as Record<string, unknown>)[key];
    if (typeof value === 'string') found[key] = value;
  }
  return Object.keys(found).length === 0 ? undefined : found;
}

/** What `traced` reads of a request's context: its `_meta` and, over HTTP, its request's headers. */
export interface TracedContext {
  mcpReq: { _meta?: unknown };
  http?: { req?: { headers: { get(name: string): string | null } } };
}

/**
 * A request's downstream, carrying the caller's trace context to the
 * backend: the request's `_meta` one (the SDK's ctx.mcpReq._meta), else
 * its HTTP request's `traceparent`/`tracestate`/`baggage` headers ([otel]:
 * with tracing off or the request unsampled the caller's context passes
 * through verbatim, as REST's does; with tracing on the router puts its
 * own client span in its place).
 */
export function traced<D extends Downstream>(ctx: TracedContext, downstream: D): D {
  const trace = traceContextOf(ctx.mcpReq._meta) ?? headerContext(ctx.http?.req?.headers);
  return trace === undefined ? downstream : { ...downstream, traceContext: trace };
}

/** The W3C trace context of HTTP headers, when they carry a well-formed traceparent. */
function headerContext(headers: { get(name: string): string | null } | undefined): Record<string, string> | undefined {
  const traceparent = headers?.get('traceparent');
  if (traceparent === undefined || traceparent === null || !TRACEPARENT.test(traceparent)) return undefined;
  const found: Record<string, string> = { traceparent };
  for (const key of ['tracestate', 'baggage']) {
    const value = headers?.get(key);
    if (typeof value === 'string') found[key] = value;
  }
  return found;
}

/**
 * The params of a request to a backend connection: with the caller's
 * trace context in `_meta` (both eras); on a 2026-07-28 connection also
 * with the caller's envelope keys and a retry's round fields (a 2025 one
 * has neither).
 */
export function paramsFor(
  connection: Pick<Connection, 'era'>,
  params: Record<string, unknown>,
  downstream: Downstream | undefined,
  round: RoundFields = {},
  // [otel] The trace context to send: the caller's, or the gateway's own client span (router.ts).
  trace: Readonly<Record<string, string>> | undefined = downstream?.traceContext,
): Record<string, unknown> {
  const meta = { ...(params._meta as Record<string, unknown> | undefined), ...trace };
  if (connection.era !== 'modern') return trace === undefined ? params : { ...params, _meta: meta };
  return {
    ...params,
    _meta: { ...meta, ...callerMeta(downstream) },
    ...(round.inputResponses === undefined ? {} : { inputResponses: round.inputResponses }),
    ...(round.requestState === undefined ? {} : { requestState: round.requestState }),
  };
}

/**
 * The round fields of a 2026-07-28 retry as the gateway's SDK server hands
 * them over (it lifts them out of the params into the request context:
 * `inputResponses` less the entries that are not bare results, which the
 * backend asks for again; `requestState` exactly as sent).
 */
export function roundOf(request: { inputResponses?: unknown; requestState: () => unknown }): RoundFields {
  const requestState = request.requestState();
  return {
    ...(request.inputResponses === undefined ? {} : { inputResponses: request.inputResponses }),
    ...(requestState === undefined ? {} : { requestState }),
  };
}

/** The pause before a 2026-07-28 backend's ended listen stream is opened again; doubled (up to RELISTEN_MAX_MS) while it cannot be. */
const RELISTEN_FIRST_MS = 250;
const RELISTEN_MAX_MS = 30_000;

/** A listen stream the gateway holds open to a 2026-07-28 backend (holdListenStream). */
export interface HeldListen {
  /** Ends it for good (idempotent). */
  close(): Promise<void>;
  /** Settles once it is over: closed here, or its connection closed. */
  readonly over: Promise<void>;
}

/**
 * [mcp-ext] Opens a `subscriptions/listen` stream to a 2026-07-28 backend
 * and keeps it open: a stream the backend ends while the connection lives
 * (an HTTP server that restarted: the era has no session to lose) is
 * opened again, after a pause that doubles while it cannot be, and
 * `onResumed` hears of it (what changed in between was not heard). Rejects
 * when the first stream is refused; over once closed here or once the
 * connection has closed.
 */
export async function holdListenStream(client: Client, filter: SubscriptionFilter, onResumed?: () => void): Promise<HeldListen> {
  let current = await client.listen(filter);
  let closed = false;
  let end: () => void = () => undefined;
  const over = new Promise<void>((resolve) => (end = resolve));
  const stop = (): void => {
    closed = true;
    end();
  };
  // A closed connection has no transport: nothing is opened on it again.
  const later = (pause: number): void => {
    if (closed || client.transport === undefined) stop();
    else setTimeout(() => reopen(pause), pause).unref();
  };
  const watch = (subscription: McpSubscription, pause: number): void => {
    const opened = Date.now();
    void subscription.closed.then((how) => {
      if (how === 'local') return stop();
      // A stream that lived long starts over; one the backend keeps ending waits longer each time.
      later(Date.now() - opened > RELISTEN_MAX_MS ? RELISTEN_FIRST_MS : Math.min(pause * 2, RELISTEN_MAX_MS));
    });
  };
  const reopen = (pause: number): void => {
    if (closed) return;
    client.listen(filter).then(
      (subscription) => {
        if (closed) return void subscription.close();
        current = subscription;
        onResumed?.();
        watch(subscription, pause);
      },
      () => later(Math.min(pause * 2, RELISTEN_MAX_MS)),
    );
  };
  watch(current, RELISTEN_FIRST_MS / 2);
  return {
    over,
    close: async () => {
      if (closed) return;
      stop();
      await current.close();
    },
  };
}

/**
 * A 2026-07-28 backend sends its list changes only on a
 * `subscriptions/listen` stream: each modern connection opens one for the
 * lists the backend says change, and the SDK hands what arrives to the
 * connection's notification handlers, as a 2025 backend's unsolicited
 * notifications (the catalog re-lists tools, sessions hear of prompts and
 * resources). A backend that refuses the stream is logged, not failed.
 * [mcp-ext] The stream is held open (holdListenStream); once it is opened
 * again, `onResumed` hears the filter.
 */
export function listenForChanges(client: Client, onError: (error: Error) => void, onResumed?: (filter: ListFilter) => void): void {
  if (client.getProtocolEra() !== 'modern') return;
  const capabilities = client.getServerCapabilities();
  const filter: ListFilter = {
    ...(capabilities?.tools?.listChanged === true ? { toolsListChanged: true } : {}),
    ...(capabilities?.prompts?.listChanged === true ? { promptsListChanged: true } : {}),
    ...(capabilities?.resources?.listChanged === true ? { resourcesListChanged: true } : {}),
  };
  if (Object.keys(filter).length === 0) return;
  holdListenStream(client, filter, () => onResumed?.(filter)).catch((error: unknown) => onError(error instanceof Error ? error : new Error(String(error))));
}

/** What a listen stream of the gateway's asks a 2026-07-28 backend for. */
export type ListFilter = { toolsListChanged?: true; promptsListChanged?: true; resourcesListChanged?: true };
