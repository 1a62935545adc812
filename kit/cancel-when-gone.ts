import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, RequestId, Transport } from '@modelcontextprotocol/server';

/** JSON-RPC error code of a request ended because its connection closed (SDK v1's ConnectionClosed; v2's SdkErrorCode is a string). */
const CONNECTION_CLOSED = -32000;

/*
 * SDK v1's Streamable HTTP server transport does not abort a request's
 * handler when the client stops waiting for the answer: a POST whose
 * connection closed (client killed, network gone) leaves its handler
 * running, and a long poll then takes the next message for nobody. The
 * gateway's /mcp and the standalone coordination server's /mcp both hand
 * each POST to cancelWhenGone, which treats the lost connection as the
 * client's own notifications/cancelled for the requests of that POST.
 */

/**
 * Aborts when the client goes away before its answer is complete. Under
 * @hono/node-server this listens on the Node response (closed before it
 * finished); elsewhere (app.request in tests) it is the Request's signal.
 */
export function answerGone(outgoing: ServerResponse | undefined, request: Request): AbortSignal {
  if (outgoing === undefined) return request.signal;
  const gone = new AbortController();
  if (outgoing.destroyed && !outgoing.writableFinished) gone.abort();
  else
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) gone.abort();
    });
  return gone.signal;
}

/** The ids of the JSON-RPC requests in a POST body (one message or a batch). */
function requestIds(body: unknown): RequestId[] {
  const ids: RequestId[] = [];
  for (const message of Array.isArray(body) ? body : [body]) {
    if (message === null || typeof message !== 'object') continue;
    const { id, method } = message as { id?: unknown; method?: unknown };
    if (typeof method === 'string' && (typeof id === 'string' || typeof id === 'number')) ids.push(id);
  }
  return ids;
}

/**
 * When `gone` aborts, cancels the requests of `body` on the server connected
 * to `transport`, as if the client had sent notifications/cancelled for
 * each (a request that has already been answered is not affected). Each is
 * then answered with an error, so that the transport releases what it held
 * for the answer and a client that resumes the stream (gateway sessions keep
 * an event store) learns what happened instead of waiting. `onCancel` hears
 * each id, for the log.
 */
export function cancelWhenGone(gone: AbortSignal, body: unknown, transport: Transport, onCancel?: (id: RequestId) => void): void {
  const ids = requestIds(body);
  if (ids.length === 0) return;
  const cancel = (): void => cancelRequests(ids, transport, onCancel);
  if (gone.aborted) cancel();
  else gone.addEventListener('abort', cancel, { once: true });
}

/**
 * cancelWhenGone on the Node response itself (answerGone's condition: closed
 * before it finished), for the gateway's hot /mcp path: one 'close' listener
 * and no AbortController per POST, and nothing at all for a POST that
 * carries no request (a notification or a response).
 */
export function cancelWhenClosed(outgoing: ServerResponse, body: unknown, transport: Transport, onCancel?: (id: RequestId) => void): void {
  const ids = requestIds(body);
  if (ids.length === 0) return;
  if (outgoing.destroyed && !outgoing.writableFinished) cancelRequests(ids, transport, onCancel);
  else
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) cancelRequests(ids, transport, onCancel);
    });
}

/** Cancels the requests `ids` on the server connected to `transport`, as the client's notifications/cancelled would. */
function cancelRequests(ids: readonly RequestId[], transport: Transport, onCancel?: (id: RequestId) => void): void {
  const reason = 'The client connection closed before the answer was sent';
  for (const id of ids) {
    onCancel?.(id);
    const cancelled: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } };
    transport.onmessage?.(cancelled);
    const answer = closedAnswer(id, reason);
    // No transport holds this request any more (answered already, or its stream is gone for good): nothing to release.
    transport.send(answer, { relatedRequestId: id }).catch(() => undefined);
  }
}

/** The error answer of a request cancelled because its connection closed (kept in a session's event store for a client that resumes). */
export function closedAnswer(id: RequestId, reason = 'The client connection closed before the answer was sent'): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code: CONNECTION_CLOSED, message: `Request cancelled: ${reason.toLowerCase()}; call again.` } };
}
