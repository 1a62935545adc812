import { createHash } from 'node:crypto';
import type { Attributes as OtelAttributes } from '@opentelemetry/api';
import { sdk } from './sdk.js';
import { innerMap, Recorded, sampled, UNSAMPLED } from './spans.js';
import type { HttpSpan, McpRequestInfo, McpSpan, SpanHandle, TraceCarrier } from './telemetry.js';

/*
 * [otel] The span of an HTTP request and of an MCP request (otel.ts makes
 * them; the SDK's handler hook and a path that serves MCP without the SDK's
 * Server both come through startMcp). A POST whose MCP request has no
 * `_meta` context of its own is one span for both (docs/tracing.md).
 */

/** MCP requests that are polls or waits: no span, and their HTTP request's span is dropped too. */
const QUIET_METHODS = new Set(['ping', 'tasks/get', 'tasks/result', 'tasks/list', 'subscriptions/listen']);
const QUIET_TOOLS = new Set(['gate_poll', 'gate_await']);

/** The server span of one HTTP request; `quiet` once it turns out to be a poll (then it is not recorded). */
export class RequestSpan implements HttpSpan {
  quiet = false;
  /** Whether the MCP request it carries took this span as its own too (startMcp): then it ends with the later of the two. */
  merged = false;
  /** [otel] The objects otel.ts finds this span by (startHttp's request, keyHttp's): forgotten once it has ended merged (release). */
  key: object | undefined = undefined;
  alias: object | undefined = undefined;
  #ends = 1;
  constructor(
    readonly span: SpanHandle,
    readonly method: string,
    /** A long poll: its path, when it was asked and the caller's context (its `poll wake` span is made when it answers). */
    readonly poll?: { path: string; asked: number; inbound: TraceCarrier | undefined },
    /** The route the span was named by at its start, if it was. */
    readonly route?: string,
  ) {}

  /** The MCP request takes this span as its own too: false when one already has, or the span is over. */
  adopt(): boolean {
    if (this.merged || this.#ends === 0) return false;
    this.merged = true;
    this.#ends += 1;
    return true;
  }

  /** One end (the HTTP answer, the MCP request) is done: the span ends with the last (then true). */
  done(): boolean {
    this.#ends -= 1;
    if (this.#ends !== 0) return false;
    this.span.end();
    return true;
  }
}

/** An unsampled MCP request: its calls are unsampled too. */
const UNSAMPLED_MCP: McpSpan = { span: UNSAMPLED, end: () => undefined };

/**
 * A session as spans name it: the first 16 hex digits of the SHA-256 of its
 * id. The id itself would let whoever reads the traces post into the
 * session (its owner's token is still needed, but the id is not the
 * tracing system's to hold). Computed once per session (bounded).
 */
const tags = new Map<string, string>();
function sessionTag(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  let tag = tags.get(id);
  if (tag === undefined) {
    if (tags.size >= 4096) tags.clear();
    tag = createHash('sha256').update(id).digest('hex').slice(0, 16);
    tags.set(id, tag);
  }
  return tag;
}

function clientOf(params: McpRequestInfo['params']): string | undefined {
  const info = params?.clientInfo as { name?: unknown } | undefined;
  return typeof info?.name === 'string' ? info.name : undefined;
}

/** The attributes of an MCP request's span (the MCP and GenAI semantic conventions): defined values only, made in one object (no copy without the undefined ones). */
function mcpAttributes(request: McpRequestInfo, name: string | undefined, session: string | undefined, client: string | undefined): OtelAttributes {
  const { method, params } = request;
  const out: OtelAttributes = { 'mcp.method.name': method };
  if (request.id !== undefined) out['jsonrpc.request.id'] = String(request.id);
  const tag = sessionTag(session);
  if (tag !== undefined) out['mcp.session.id'] = tag;
  // initialize names its client in its params (the session learns it from this very request).
  const clientName = method === 'initialize' ? clientOf(params) : client;
  if (clientName !== undefined) out['stonegate.client.name'] = clientName;
  if (method === 'tools/call' && name !== undefined) {
    out['gen_ai.tool.name'] = name;
    out['gen_ai.operation.name'] = 'execute_tool';
  } else if (method === 'prompts/get' && name !== undefined) out['gen_ai.prompt.name'] = name;
  else if (method === 'resources/read' && typeof params?.uri === 'string') out['mcp.resource.uri'] = params.uri;
  return out;
}

/** [otel] Span names `<method> <name>`, made once per pair (bounded: a client names what it likes), not per request. */
const spanNames = new Map<string, Map<string, string>>();
function spanNameOf(method: string, name: string | undefined): string {
  if (name === undefined) return method;
  const names = innerMap(spanNames, method, 64);
  let spanName = names.get(name);
  if (spanName === undefined) {
    if (names.size >= 1024) names.clear();
    spanName = `${method} ${name}`;
    names.set(name, spanName);
  }
  return spanName;
}

/**
 * What otel.ts forgets when a recorded MCP request ends: the HTTP span it
 * merged with, once that has ended too, and the request's own key (its
 * signal). A WeakMap's entry keeps its value through the young
 * generation's scavenges after its key is garbage, until a collection
 * clears the entry: forgotten at the end, a call's spans are not copied.
 */
export type Release = (http: RequestSpan | undefined, key: object | undefined) => void;

/**
 * The MCP request span maker of one tracer: `server` starts a server span
 * in a caller's context (or a new trace). startMcp gives undefined for a
 * poll or wait (no span; its HTTP span is dropped), UNSAMPLED_MCP when not
 * sampled; `session` and `client` are read only for a recorded span; `key`
 * is what otel.ts finds the span by (released at its end).
 */
export function mcpSpans(ratio: number, server: (name: string, carrier: TraceCarrier | undefined, attributes: OtelAttributes) => Recorded, release: Release) {
  return (
    http: RequestSpan | undefined,
    request: McpRequestInfo,
    session: () => string | undefined,
    client: () => string | undefined,
    key: object | undefined,
  ): McpSpan | undefined => {
    const { method, params } = request;
    const name = typeof params?.name === 'string' ? params.name : undefined;
    if (QUIET_METHODS.has(method) || (method === 'tools/call' && name !== undefined && QUIET_TOOLS.has(name))) {
      if (http !== undefined) http.quiet = true;
      return undefined;
    }
    // The MCP semantic conventions: a context in params._meta is the parent; else the HTTP request's span.
    const meta = params?._meta as TraceCarrier | undefined;
    const own = typeof meta?.traceparent === 'string' || http === undefined;
    if (own ? !sampled(meta, ratio) : !(http.span instanceof Recorded)) return UNSAMPLED_MCP;
    const spanName = spanNameOf(method, name);
    const attributes = mcpAttributes(request, name, session(), client());
    // The first MCP request of a POST without its own _meta context: the HTTP span is its span too (one span,
    // named by the MCP request, with both sets of attributes). Another of the same POST (a batch) is its child.
    const merged = !own && http.adopt();
    let span: Recorded;
    if (merged) {
      span = http.span as Recorded;
      span.span.updateName(spanName);
      span.span.setAttributes(attributes);
    } else span = own ? server(spanName, meta, attributes) : (http.span as Recorded).childOf(spanName, sdk().kinds.server, attributes);
    // The routed call of the tool it names takes this span as its own (otel.ts start, spans.ts Adopted): no execute_tool span under it.
    if (method === 'tools/call' && name !== undefined) {
      span.tool = name;
      span.client = attributes['stonegate.client.name'] as string | undefined;
    }
    return {
      span,
      end(result, error) {
        // An adopted call's failure (its error code) stays: it says more than the JSON-RPC error or `tool_error` it became.
        if (!span.failed) {
          if (error !== undefined) {
            const code = (error as { code?: unknown }).code;
            span.fail(code === undefined ? 'error' : String(code), (error as Error).message);
          } else if ((result as { isError?: unknown } | undefined)?.isError === true) span.span.setAttribute('error.type', 'tool_error');
        }
        if (!merged) span.end();
        release(merged && http?.done() === true ? http : undefined, key);
      },
    };
  };
}
