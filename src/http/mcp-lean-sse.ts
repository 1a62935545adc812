import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import { DEFAULT_NEGOTIATED_PROTOCOL_VERSION } from '@modelcontextprotocol/server';
import { closedAnswer } from '../../kit/cancel-when-gone.js';

/*
 * [speed] A lean /mcp call (mcp-lean.ts) of a 2025 session whose client
 * declared sampling or elicitation, or set a log level: a backend may send
 * the client a request or a log message during any of its calls, so the SDK
 * path answers every such call with an SSE stream. The spec lets a server answer a POST with one JSON body unless
 * it sends the client messages of its own first, so here the call is
 * answered with one JSON body, unless a message for the client (a request
 * such as sampling/createMessage, or a notification) goes out during it:
 * then the POST's response becomes the SSE stream the SDK would have opened,
 * registered in the SDK transport's own stream maps (GatewayHttpTransport),
 * so from there on the SDK stores each event for resumption, writes it, and
 * writes and closes with the answer, as on the SDK path.
 */

/** The SDK transport's members a lean stream reads and calls (private in its types; pinned by test/http/mcp-transport-internals.test.ts). */
export interface StreamInternals {
  _requestToStreamMapping: Map<RequestId, string>;
  _streamMapping: Map<string, { controller?: SseController; encoder?: SseEncoder; cleanup: () => void; resolveJson?: unknown }>;
  writePrimingEvent(controller: SseController, encoder: SseEncoder, streamId: string, protocolVersion: string): Promise<void>;
  startKeepAlive(controller: SseController, encoder: SseEncoder): ReturnType<typeof setInterval> | undefined;
  send(message: JSONRPCMessage): Promise<void>;
}

/** What the SDK's SSE writer calls on a stream: here, the POST's Node response itself. */
interface SseController {
  enqueue(chunk: string): void;
  close(): void;
}

/** The SDK encodes each event before enqueueing it; the Node response takes the text as it is. */
interface SseEncoder {
  encode(text: string): string;
}
const AS_TEXT: SseEncoder = { encode: (text) => text };

/** The session server's sending side: the SDK's own request and notification (Protocol). */
export interface LeanAsker {
  request(request: { method: string; params?: unknown }, schema: unknown, options?: Record<string, unknown>): Promise<unknown>;
  notification(notification: { method: string; params?: unknown }, options?: Record<string, unknown>): Promise<void>;
}

type Send = (request: { method: string }, schema: unknown, options?: Record<string, unknown>) => Promise<unknown>;
type Notify = (notification: { method: string }, options?: Record<string, unknown>) => Promise<void>;

/** What a lean call that may ask its client gets: ctx.mcpReq's send and notify, as the SDK makes them (related to the call), and its stream. */
export interface LeanAsks {
  send: Send;
  notify: Notify;
  stream: LeanStream;
}

/** The send, notify and stream of one call (`id`) of a session whose server is `asker`. */
export function leanAsks(asker: LeanAsker, id: RequestId, stream: LeanStream): LeanAsks {
  const related = { relatedRequestId: id };
  return {
    send: (request, schema, options) => asker.request(request, schema, { ...options, ...related }),
    notify: (notification, options) => asker.notification(notification, { ...options, ...related }),
    stream,
  };
}

/** One lean call that may switch to SSE; `opened` once it has. */
export class LeanStream {
  readonly #sdk: StreamInternals;
  readonly #res: ServerResponse;
  readonly #id: RequestId;
  readonly #version: string;
  readonly #sessionId: string | undefined;
  #opening: Promise<void> | undefined;
  #streamId: string | undefined;
  #controller: SseController | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(sdk: StreamInternals, res: ServerResponse, id: RequestId, version: string | undefined, sessionId: string | undefined) {
    this.#sdk = sdk;
    this.#res = res;
    this.#id = id;
    this.#version = version ?? DEFAULT_NEGOTIATED_PROTOCOL_VERSION;
    this.#sessionId = sessionId;
  }

  /** Whether the call's response is an SSE stream now (its answer then goes through the transport: finish). */
  get opened(): boolean {
    return this.#opening !== undefined;
  }

  /** Opens the SSE stream (once; later calls wait for the first): the SDK path's headers, its stream maps and its priming event. */
  open(): Promise<void> {
    this.#opening ??= this.#open();
    return this.#opening;
  }

  async #open(): Promise<void> {
    const res = this.#res;
    const streamId = randomUUID();
    const controller: SseController = {
      enqueue: (chunk) => {
        if (!res.destroyed) res.write(chunk);
      },
      close: () => {
        if (!res.writableEnded) res.end();
      },
    };
    this.#streamId = streamId;
    this.#controller = controller;
    if (!res.headersSent && !res.destroyed) {
      const headers: Record<string, string> = {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      };
      if (this.#sessionId !== undefined) headers['mcp-session-id'] = this.#sessionId;
      res.writeHead(200, headers);
    }
    const sdk = this.#sdk;
    sdk._requestToStreamMapping.set(this.#id, streamId);
    // A connection already gone keeps only the request's mapping: its events are stored for a resume (as the SDK's cancelled stream).
    if (res.destroyed) return;
    sdk._streamMapping.set(streamId, { controller, encoder: AS_TEXT, cleanup: () => this.#close() });
    await sdk.writePrimingEvent(controller, AS_TEXT, streamId, this.#version);
    if (sdk._streamMapping.get(streamId)?.controller === controller) this.#keepAlive = sdk.startKeepAlive(controller, AS_TEXT);
  }

  /** The stream's cleanup, as the SDK's: no more keep-alives, out of the maps, the response ended. */
  #close(): void {
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    if (this.#streamId !== undefined && this.#sdk._streamMapping.get(this.#streamId)?.controller === this.#controller)
      this.#sdk._streamMapping.delete(this.#streamId);
    this.#controller?.close();
  }

  /** The connection closed: no more writes (as the SDK's ReadableStream cancel), the events still stored. */
  dropped(): void {
    if (this.#keepAlive !== undefined) clearInterval(this.#keepAlive);
    if (this.#streamId !== undefined && this.#sdk._streamMapping.get(this.#streamId)?.controller === this.#controller)
      this.#sdk._streamMapping.delete(this.#streamId);
  }

  /**
   * The end of a call whose stream is open (nothing more for the caller to write): its answer, or when it was
   * cancelled by its connection closing, the answer the SDK path's cancelWhenClosed gives (kept for a client that
   * resumes); cancelled by its client (notifications/cancelled), none, and the stream ends.
   */
  async settle(answer: JSONRPCMessage, aborted: boolean): Promise<undefined> {
    if (!aborted) await this.finish(answer);
    else if (this.#res.destroyed) await this.finish(closedAnswer(this.#id));
    else this.abandon();
    return undefined;
  }

  /** Sends the call's answer on its stream: stored, written, and the stream closed by the SDK transport. */
  async finish(answer: JSONRPCMessage): Promise<void> {
    await this.open();
    await this.#sdk.send(answer);
  }

  /** A call cancelled by its client's notifications/cancelled: no answer (as the SDK sends none); the stream ends. */
  abandon(): void {
    this.#sdk._requestToStreamMapping.delete(this.#id);
    this.#close();
  }
}
