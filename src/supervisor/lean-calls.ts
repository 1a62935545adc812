import type { JSONRPCMessage } from '@modelcontextprotocol/client';
import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import { handedOver } from '../pool/backend-client.js';
import type { AbortWatch, LeanLink } from '../pool/connection.js';

/** The ids of lean requests: strings, so they never meet the SDK Protocol's numeric ids on the same link. */
const PREFIX = 'sg';

/**
 * One request in flight. It is its own abort listener (handleEvent), so a
 * call allocates no closure for it.
 */
class LeanRequest {
  constructor(
    readonly id: string,
    readonly calls: LeanCalls,
    readonly signal: AbortWatch,
    readonly resolve: (result: Record<string, unknown>) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  handleEvent(): void {
    this.calls.cancel(this);
  }
}

/**
 * [speed] Requests sent on a negotiated 2025-era stdio link without the SDK
 * `Protocol`: the request is written as one JSON-RPC line and its response
 * is matched by id before the Protocol sees it, with no per-message zod
 * checks, result codec, timer or envelope. It is for a plain `tools/call`
 * only (router.ts chooses): negotiation, progress, tasks, a 2026-07-28
 * link's input_required rounds and every other request stay on the SDK
 * client, and the backend's own requests and notifications during the call
 * (sampling, elicitation, logging) still reach the SDK client's handlers.
 * Failures take the shapes the SDK gives them, so router/failure.ts tells
 * them apart the same way: a JSON-RPC error is a ProtocolError, an abort
 * rejects with the signal's reason (after notifications/cancelled), a
 * closed link fails every request once the SDK client has dropped its
 * transport.
 */
export class LeanCalls implements LeanLink {
  readonly #send: (message: JSONRPCMessage) => Promise<void>;
  readonly #pending = new Map<string, LeanRequest>();
  #next = 0;
  #closed = false;

  constructor(send: (message: JSONRPCMessage) => Promise<void>) {
    this.#send = send;
  }

  request(method: string, params: Record<string, unknown>, signal: AbortWatch): Promise<Record<string, unknown>> {
    // The SDK's answer on a link without a transport (router/failure.ts reads it as a closed link).
    if (this.#closed) return Promise.reject(new Error('Not connected'));
    if (signal.aborted) return Promise.reject(abortError(signal.reason));
    this.#next += 1;
    const id = `${PREFIX}${this.#next}`;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const request = new LeanRequest(id, this, signal, resolve, reject);
      this.#pending.set(id, request);
      signal.addEventListener('abort', request, { once: true });
      this.#send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage).catch((error: unknown) => this.#fail(request, error));
    });
  }

  /** Whether a response is a lean request's (then it is settled here, or dropped when its request has gone). */
  settle(message: JSONRPCMessage): boolean {
    const id = (message as { id?: unknown }).id;
    if (typeof id !== 'string' || !id.startsWith(PREFIX) || 'method' in message) return false;
    const request = this.#pending.get(id);
    if (request === undefined) return true; // answered after it was cancelled: nobody waits for it
    this.#pending.delete(id);
    request.signal.removeEventListener('abort', request);
    const m = message as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
    if (m.error !== undefined) request.reject(ProtocolError.fromError(m.error.code, m.error.message, m.error.data));
    else request.resolve(handedOver(m.result ?? {}));
    return true;
  }

  /** The caller gave up (deadline or cancel): the backend is told, the call rejects with the signal's reason. */
  cancel(request: LeanRequest): void {
    if (!this.#pending.delete(request.id)) return;
    const reason: unknown = request.signal.reason;
    if (!this.#closed) {
      const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: request.id, reason: String(reason) } };
      this.#send(note as JSONRPCMessage).catch(() => undefined);
    }
    request.reject(abortError(reason));
  }

  /** The link closed: every request in flight fails as the SDK fails its own ("Connection closed"). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed');
    for (const request of this.#pending.values()) {
      request.signal.removeEventListener('abort', request);
      request.reject(error);
    }
    this.#pending.clear();
  }

  #fail(request: LeanRequest, error: unknown): void {
    if (!this.#pending.delete(request.id)) return;
    request.signal.removeEventListener('abort', request);
    request.reject(error);
  }
}

/** What an aborted request rejects with, as the SDK Protocol's: the reason itself when it is an SdkError (the gateway deadline's). */
function abortError(reason: unknown): SdkError {
  return reason instanceof SdkError ? reason : new SdkError(SdkErrorCode.RequestTimeout, String(reason));
}
