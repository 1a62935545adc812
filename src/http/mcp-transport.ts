import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, RequestId, TransportSendOptions, WebStandardStreamableHTTPServerTransportOptions } from '@modelcontextprotocol/server';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
import { LeanStream, type StreamInternals } from './mcp-lean-sse.js';

/** The SDK transport's private fields this class reads and sets (the SDK is pinned exactly for them; test/http/mcp-transport-internals.test.ts fails when one changes, test/integration/mcp-responses.test.ts checks the answers). */
interface Internals {
  _enableJsonResponse: boolean;
  _requestToStreamMapping: Map<string | number, string>;
  _streamMapping: Map<string, { resolveJson?: unknown }>;
}

/** What a client may ask of a session that needs an SSE answer to every call. */
export interface StreamNeeds {
  /** The client can take sampling or elicitation requests, which a backend may send during a call. */
  serverRequests: () => boolean;
}

type Message = Record<string, unknown> & { method?: unknown; params?: { _meta?: { progressToken?: unknown } } };

/**
 * The SDK's Streamable HTTP server transport, answering each POST in the
 * cheapest form that loses nothing. A request whose answer can only be its
 * response gets `application/json`; one that may be followed by messages
 * of its own (progress, a backend's sampling or elicitation request, log
 * messages) gets the SDK's SSE stream, with its event store and resumption.
 *
 * A POST streams when it is a batch, when its request carries a progress
 * token, when the client declared sampling or elicitation (a backend may
 * ask during any call), or once the client has set a log level. Everything
 * else — the bulk of tools/call traffic — is one JSON body: no
 * ReadableStream, no priming event, no keep-alive timer, no SSE parsing on
 * the client.
 *
 * The SDK decides JSON or SSE per transport; this class sets its flag per
 * request, before the transport reads it (synchronously on the way in) and
 * again from the request's own stream on the way out, so requests of both
 * kinds can run at once on one session.
 */
export class GatewayHttpTransport extends WebStandardStreamableHTTPServerTransport {
  readonly #needs: StreamNeeds;
  #logging = false;
  /** [speed] The lean calls in flight that may still switch to SSE (mcp-lean-sse.ts), by request id. */
  readonly #lean = new Map<RequestId, LeanStream>();

  constructor(options: WebStandardStreamableHTTPServerTransportOptions, needs: StreamNeeds) {
    super(options);
    this.#needs = needs;
  }

  /** Handles a POST whose body the gateway has already read and parsed. */
  handlePost(request: Request, body: unknown): Promise<Response> {
    (this as unknown as Internals)._enableJsonResponse = !this.#streams(body);
    return this.handleRequest(request, { parsedBody: body });
  }

  override async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const self = this as unknown as Internals;
    const response = 'id' in message && ('result' in message || 'error' in message);
    const requestId = response ? message.id : options?.relatedRequestId;
    if (requestId !== undefined) {
      // [speed] A lean call's first message to the client opens its SSE stream; its answer is sent by the call (LeanStream.finish).
      if (!response) await this.#lean.get(requestId)?.open();
      const streamId = self._requestToStreamMapping.get(requestId);
      self._enableJsonResponse = streamId !== undefined && self._streamMapping.get(streamId)?.resolveJson !== undefined;
    }
    return super.send(message, options);
  }

  /**
   * [speed] How the lean path (mcp-lean.ts) answers a request without a progress token: 'json', one JSON body (as
   * the SDK path here); 'switch', JSON unless the call sends the client a message first, when it turns into the SSE
   * stream the SDK path gives it (mcp-lean-sse.ts): the client declared sampling or elicitation, or set a log level.
   */
  leanMode(): 'json' | 'switch' {
    return this.#logging || this.#needs.serverRequests() ? 'switch' : 'json';
  }

  /** [speed] A lean call that may switch to SSE, registered until `leanDone`: its messages to the client open its stream. */
  leanStream(id: RequestId, res: ServerResponse, version: string | undefined): LeanStream {
    const stream = new LeanStream(this as unknown as StreamInternals, res, id, version, this.sessionId);
    this.#lean.set(id, stream);
    return stream;
  }

  leanDone(id: RequestId, stream: LeanStream): void {
    if (this.#lean.get(id) === stream) this.#lean.delete(id);
  }

  #streams(body: unknown): boolean {
    if (Array.isArray(body)) return true;
    if (body === null || typeof body !== 'object') return false;
    const message = body as Message;
    if (message.method === 'logging/setLevel') this.#logging = true;
    if (this.#logging || message.params?._meta?.progressToken !== undefined) return true;
    return message.method !== 'initialize' && this.#needs.serverRequests();
  }
}
