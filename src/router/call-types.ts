import type { CallToolResult, Progress } from '@modelcontextprotocol/client';
import type { Catalog } from '../catalog/catalog.js';
import type { Logger } from '../log.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import type { RoundFields } from '../pool/backend-era.js';
import type { AbortWatch, Downstream } from '../pool/connection.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { SpanHandle, TraceCarrier } from '../telemetry/telemetry.js';
import type { CallLog } from './call-log.js';

/*
 * What the router takes and gives (router.ts): the call every surface hands
 * it, its outcome, the options of a forwarded request, and its middleware.
 */

/** A tool call as every surface (REST, MCP, async dispatch) hands it to the router. */
export interface CallRequest {
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  /** Who is calling (a token name or MCP client name), for the log. */
  caller?: string;
  /**
   * Aborting it cancels the call; the backend gets notifications/cancelled. An AbortSignal, or
   * [speed] any AbortWatch (REST's CallCancel, call-cancel.ts): the router makes no AbortSignal unless the SDK path needs one.
   */
  signal?: AbortWatch;
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
  /** [mcp-bridge] A 2026-07-28 caller's retry (`inputResponses`, `requestState`): passed to a 2026-07-28 backend untouched. */
  round?: RoundFields;
  /** [otel] The caller's W3C trace context when it came outside `_meta` (REST headers, an async call's submitter): sent on to the backend. */
  traceContext?: TraceCarrier;
  /** [otel] An async call: its span starts a trace of its own, linked to traceContext (the submitter's). */
  linked?: boolean;
  /** [otel] The span of the request making the call (REST: its HTTP span); without it, the MCP request's is found by `signal`. */
  parent?: SpanHandle;
}

/** What a forwarded request must pass to the SDK: the gateway's deadline (with the caller's cancel) instead of the SDK's timer. */
export interface ForwardOptions {
  signal: AbortSignal;
  timeout: number;
  /** [otel] Tracing on: the backend request's span, as trace context for its `_meta` (the headers of an http backend are set). */
  trace?: TraceCarrier;
  headers?: Record<string, string>;
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
  /** Called when a backend's tool listing is older than schema_cache_ttl (or its headers no longer match it); settles once it is listed again. */
  onStale?: (server: string) => Promise<void>;
  /**
   * Backends whose arguments the router does not check against their
   * listing: they check them with their own schema and answer a bad input
   * in their own refusal shape (the built-in coord), which a second check
   * here would answer first with another code and sentence.
   */
  checkedByBackend?: ReadonlySet<string>;
}
