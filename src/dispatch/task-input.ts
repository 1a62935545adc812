import type { ClientCapabilities } from '@modelcontextprotocol/client';
import { ProtocolErrorCode } from '@modelcontextprotocol/client';
import { rpcFailure } from '../errors.js';
import type { Downstream } from '../pool/connection.js';

/*
 * [mcp-ext] Input inside a task of the Tasks extension (SEP-2663 with the
 * multi-round-trip requests of SEP-2322). A task of the dispatch table has
 * no caller on the line while it runs; when its backend asks for input — a
 * 2026-07-28 backend's `input_required` result, a 2025 backend's
 * elicitation/create or sampling/createMessage request — the question is
 * parked here under a key the gateway mints, the task reads
 * `input_required` with the parked questions as its `inputRequests`, and
 * the caller's tasks/update delivers the answers by key. An answered key
 * leaves the map; the task reads `working` again once none is left.
 *
 * Only a task whose caller declared what the backend asks for gets this
 * inbox (the router refuses the rest, as for any caller: refusal() in
 * pool/client-requests.ts): its capabilities are the ones the caller's
 * tools/call declared. The questions live in this process; a task that is
 * waiting when the gateway stops ends INTERRUPTED as every running task
 * does. Waiting counts toward the task's [dispatch] async_timeout, so a
 * task nobody answers ends TIMEOUT and its backend is cancelled.
 */

/** One parked question, as tasks/get shows it in `inputRequests`. */
export interface InputRequest {
  method: string;
  params?: Record<string, unknown>;
}

interface Ask extends InputRequest {
  resolve: (answer: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

export class TaskInbox implements Downstream {
  readonly #capabilities: ClientCapabilities;
  readonly #asks = new Map<string, Ask>();
  #minted = 0;
  /** Told when a question is parked or answered (the table's status listeners: task status on subscriptions/listen). */
  onchange: (() => void) | undefined;
  #closed: string | undefined;

  constructor(capabilities: ClientCapabilities) {
    this.#capabilities = capabilities;
  }

  capabilities(): ClientCapabilities {
    return this.#capabilities;
  }

  request(method: string, params: Record<string, unknown> | undefined): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.#closed !== undefined) {
        reject(rpcFailure(ProtocolErrorCode.InternalError, `stonegate: the task can take no more input (${this.#closed})`));
        return;
      }
      this.#minted += 1;
      this.#asks.set(`input-${this.#minted}`, { method, ...(params === undefined ? {} : { params }), resolve, reject });
      this.onchange?.();
    });
  }

  /** Logging and other notifications of the backend during the task: a task has no stream to carry them. */
  notify(): Promise<void> {
    return Promise.resolve();
  }

  /** The questions waiting for an answer, by key; undefined when none waits. */
  pending(): Record<string, InputRequest> | undefined {
    if (this.#asks.size === 0) return undefined;
    const shown: Record<string, InputRequest> = {};
    for (const [key, { method, params }] of this.#asks) shown[key] = params === undefined ? { method } : { method, params };
    return shown;
  }

  /**
   * tasks/update's `inputResponses`: each answer for a waiting key goes to
   * its question; keys not waiting (answered already, never minted) are
   * ignored, as the extension says. An answer that is not an object is the
   * caller's -32602, and nothing of that update is delivered.
   */
  answer(responses: Record<string, unknown>): void {
    const delivered: [string, Ask, Record<string, unknown>][] = [];
    for (const [key, answer] of Object.entries(responses)) {
      const ask = this.#asks.get(key);
      if (ask === undefined) continue;
      if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
        throw rpcFailure(ProtocolErrorCode.InvalidParams, `inputResponses["${key}"] must be the result object of ${ask.method}`);
      }
      delivered.push([key, ask, answer as Record<string, unknown>]);
    }
    for (const [key, ask, answer] of delivered) {
      this.#asks.delete(key);
      ask.resolve(answer);
    }
    if (delivered.length > 0) this.onchange?.();
  }

  /** The task ended: a question still waiting is answered with an error (its backend call is over anyway). */
  close(why: string): void {
    this.#closed = why;
    for (const ask of this.#asks.values()) ask.reject(rpcFailure(ProtocolErrorCode.InternalError, `stonegate: ${why}`));
    this.#asks.clear();
  }
}
