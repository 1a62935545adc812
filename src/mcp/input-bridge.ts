import { randomBytes } from 'node:crypto';
import type { CallToolResult, ClientCapabilities, Progress, Result } from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import { rpcFailure } from '../errors.js';
import type { Logger } from '../log.js';
import type { Downstream } from '../pool/connection.js';
import { KEY_FILE, loadKey, open, type StatePayload, seal } from './request-state.js';

/**
 * Modern client ↔ legacy backend ([mcp-bridge], docs/mcp.md "Protocol
 * eras"). A 2025-era backend asks for input with a request during the call
 * (elicitation/create, sampling/createMessage); a 2026-07-28 caller takes
 * no requests. So the backend's request is parked (its answer stays
 * pending, the call keeps running on its connection) and the caller is
 * answered at once with `input_required` and a `requestState` the gateway
 * minted (request-state.ts). The caller's retry carries the answer: it goes
 * to the parked request, and the retry waits for what comes next, the
 * call's result or the backend's next request (a new input_required with a
 * new state).
 *
 * A state is single use (each round has its number; the pending entry moves
 * on when it is used), expires after `[gateway] input_request_ttl`, and is
 * bound to its caller and its request. The parked request waits that long
 * plus INPUT_WAIT_GRACE_MS, then the backend is answered with an error and
 * the entry dropped. Pending calls live in this process only: a retry that
 * reaches another gateway process is refused with a sentence that says so.
 */

/**
 * How much longer than its state a parked request waits, so that a retry
 * sent just before the state expires still finds it: 10 s, or a tenth of
 * the state's lifetime when that is shorter.
 */
export const INPUT_WAIT_GRACE_MS = 10_000;

/** The retry-side view of one round: the request the caller is waiting on. */
export interface BridgeRound {
  /** The round's request: when it is cancelled, so is the call. */
  signal: AbortSignal;
  /** What the caller declared in this request's envelope. */
  capabilities: ClientCapabilities;
  /** Sends a notification (progress, a log message) on this round's answer stream. */
  notify: (method: string, params: Record<string, unknown> | undefined) => Promise<void>;
  onprogress?: (progress: Progress) => void;
}

/** Runs the call with the bridge's downstream; rejects with the call's error. */
export type BridgeRun = (downstream: Downstream, signal: AbortSignal, onprogress: ((progress: Progress) => void) | undefined) => Promise<CallToolResult>;

/** What the caller gets for a failed call (a tool error result). */
export type BridgeFailure = (err: unknown) => CallToolResult;

/** The retry fields of a tools/call (lifted off its params by the SDK: ctx.mcpReq). */
export interface BridgeRetry {
  requestState: unknown;
  inputResponses?: Record<string, unknown>;
  dropped?: readonly string[];
}

interface Ask {
  method: string;
  params: Record<string, unknown> | undefined;
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

interface Pending {
  /** '' until the call is first parked. */
  id: string;
  /** '' until the first park of an anonymous caller's call. */
  caller: string;
  digest: string;
  /** The request's digest, computed when the call is first parked. */
  name: () => string;
  /** The round of the state last minted for this call. */
  round: number;
  /** The backend requests not yet answered; the first is the one the current state asks. */
  asks: Ask[];
  /** How the call ended, once it has. */
  outcome?: { result: CallToolResult } | { error: unknown };
  /** Wakes the round waiting for the next event. */
  wake?: () => void;
  /** The round in progress (a request of the caller waiting), if any. */
  current?: BridgeRound;
  capabilities: ClientCapabilities;
  /** The call's deadline: paused while a backend request waits for the caller. */
  deadline?: { pause(): void; resume(): void };
  timer?: NodeJS.Timeout;
  expires: number;
  /** Set once the entry was dropped on expiry: later backend requests are refused at once. */
  expired: boolean;
  /** Cancels the call (when the round waiting on it is cancelled). */
  controller: AbortController;
}

/** -32602 with a message, the answer to a retry the gateway cannot take. */
const invalid = (message: string): Error => rpcFailure(ProtocolErrorCode.InvalidParams, `Invalid requestState: ${message}`);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

export class InputBridge {
  readonly #dataDir: string;
  readonly #ttl: number;
  /** How long a parked request waits: the state's lifetime and the grace. */
  readonly #wait: number;
  readonly #logger: Logger;
  /** This process: a state minted by another one has no pending call here. */
  readonly #process = randomBytes(9).toString('base64url');
  #key: Buffer | undefined;
  /** Calls parked on a backend request, waiting for their caller's retry. */
  readonly #pending = new Map<string, Pending>();
  /** Calls that ended while parked: what their state's retry gets, until that state expires. */
  readonly #ended = new Map<string, { round: number; result?: CallToolResult; why?: string; timer: NodeJS.Timeout }>();

  constructor(options: { dataDir: string; ttlSeconds: number; logger: Logger }) {
    this.#dataDir = options.dataDir;
    this.#ttl = options.ttlSeconds * 1000;
    this.#wait = this.#ttl + Math.min(INPUT_WAIT_GRACE_MS, this.#ttl / 10);
    this.#logger = options.logger;
  }

  /** Parked calls and remembered endings (for tests and logs: both drain to 0). */
  get size(): { pending: number; ended: number } {
    return { pending: this.#pending.size, ended: this.#ended.size };
  }

  #keyOf(): Buffer {
    this.#key ??= loadKey(this.#dataDir);
    return this.#key;
  }

  /** Starts a call for a modern caller; `caller` is `token:<name>`, or undefined without auth. */
  async start(caller: string | undefined, digest: () => string, round: BridgeRound, run: BridgeRun, failure: BridgeFailure): Promise<Result> {
    const call: Pending = {
      // Named when first parked (#park): most calls never ask, and pay no random bytes or digest.
      id: '',
      caller: caller ?? '',
      digest: '',
      name: digest,
      round: 0,
      asks: [],
      capabilities: round.capabilities,
      expires: 0,
      expired: false,
      controller: new AbortController(),
    };
    const downstream: Downstream = {
      capabilities: () => call.current?.capabilities ?? call.capabilities,
      request: (method, params) =>
        new Promise((resolve, reject) => {
          if (call.expired || call.outcome !== undefined) {
            reject(
              rpcFailure(
                ProtocolErrorCode.InternalError,
                `stonegate: the 2026-07-28 caller of this call no longer answers ${method} (its input request expired)`,
              ),
            );
            return;
          }
          if (call.asks.length === 0) call.deadline?.pause();
          call.asks.push({ method, params, resolve, reject });
          call.wake?.();
        }),
      notify: async (method, params) => {
        await call.current?.notify(method, params).catch(() => undefined);
      },
      onDeadline: (deadline) => {
        // A new attempt (the router sent a repeatable call again after a crash) while a request still waits: paused from the start.
        call.deadline = deadline;
        if (call.asks.length > 0) deadline.pause();
      },
    };
    const relay = round.onprogress === undefined ? undefined : (progress: Progress) => call.current?.onprogress?.(progress);
    run(downstream, call.controller.signal, relay).then(
      (result) => this.#settle(call, { result }, failure),
      (error: unknown) => this.#settle(call, { error }, failure),
    );
    return this.#next(call, round, failure);
  }

  /** A retry: its `requestState`, `inputResponses`, and the keys whose answers the SDK dropped as not objects. */
  async resume(caller: string | undefined, digest: string, params: BridgeRetry, round: BridgeRound, failure: BridgeFailure): Promise<Result> {
    const key = this.#usableKey();
    if (key === undefined)
      throw rpcFailure(ProtocolErrorCode.InternalError, `stonegate cannot read its requestState key (data_dir/${KEY_FILE}); the log says why`);
    const payload = open(key, params.requestState);
    if (payload === undefined) throw invalid('it is not a state this gateway issued (forged, altered or truncated); call the tool again without requestState');
    this.#check(payload, caller, digest);
    const call = this.#pending.get(payload.p);
    if (call === undefined || call.caller !== payload.c) return this.#afterEnd(payload);
    if (payload.r !== call.round) throw invalid('it has been used already (each requestState answers one input request once); send the latest one');
    const ask = call.asks[0];
    if (ask === undefined) throw invalid('its call has no input request waiting'); // not reached: a parked call has one
    const name = keyOf(ask.method, call.round);
    const answer = params.inputResponses?.[name];
    if (params.dropped?.includes(name) === true || (answer !== undefined && !isObject(answer))) {
      throw invalid(`inputResponses["${name}"] must be the result object of ${ask.method}`);
    }
    this.#unpark(call);
    if (answer === undefined) {
      // No answer for the key: asked again (the spec's "missing input response"), with a new state.
      this.#logger.debug({ key: name }, 'input request re-asked: the retry carried no answer for it');
      return this.#park(call, key);
    }
    call.asks.shift();
    if (call.asks.length === 0) call.deadline?.resume();
    ask.resolve(answer);
    this.#logger.debug({ method: ask.method, ...this.size }, 'input request answered by the 2026-07-28 caller');
    return this.#next(call, round, failure);
  }

  /** Refuses a state of another caller, request, or one past its expiry; states of another process say so. */
  #check(payload: StatePayload, caller: string | undefined, digest: string): void {
    const same = caller === undefined ? payload.c.startsWith('anon:') : payload.c === caller;
    if (!same) throw invalid('it was issued to another caller; only the caller it was issued to can continue the call');
    if (payload.d !== digest) throw invalid('it was issued for another request; retry the same tools/call (same tool, same arguments) it was issued for');
    if (payload.e <= Date.now()) {
      throw invalid(
        `it expired (a requestState is valid for [gateway] input_request_ttl = ${this.#ttl / 1000} s); the backend's request was answered with an error: call the tool again`,
      );
    }
    if (payload.g !== this.#process) {
      throw invalid(
        'it was issued by another stonegate process (the gateway restarted, or a load balancer sent the retry to another instance): the call it continues waits only in the process that issued it; call the tool again',
      );
    }
  }

  /** A valid state whose call is no longer parked here. */
  #afterEnd(payload: StatePayload): Result {
    const ended = this.#ended.get(payload.p);
    if (ended === undefined || ended.round !== payload.r) throw invalid('it has been used already, or its call has ended; call the tool again');
    clearTimeout(ended.timer);
    this.#ended.delete(payload.p);
    if (ended.result !== undefined) return ended.result;
    throw invalid(`the call failed while it waited for your input, so there is nothing to answer: ${ended.why ?? 'unknown error'}`);
  }

  /** Waits for the call's next event in `round`: its result, or a backend request (→ input_required). */
  async #next(call: Pending, round: BridgeRound, failure: BridgeFailure): Promise<Result> {
    call.current = round;
    call.capabilities = round.capabilities;
    const onAbort = (): void => call.controller.abort(round.signal.reason);
    if (round.signal.aborted) onAbort();
    else round.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        await new Promise<void>((resolve) => {
          if (call.outcome !== undefined || call.asks.length > 0) resolve();
          else call.wake = resolve;
        });
        call.wake = undefined;
        const outcome = call.outcome;
        if (outcome !== undefined) return 'result' in outcome ? outcome.result : failure(outcome.error);
        const key = this.#usableKey();
        if (key !== undefined) return this.#park(call, key);
        // No key, no state: the backend hears so, and the call goes on.
        (call.asks.shift() as Ask).reject(
          rpcFailure(ProtocolErrorCode.InternalError, 'stonegate cannot ask its 2026-07-28 caller: its requestState key is unreadable'),
        );
        if (call.asks.length === 0) call.deadline?.resume();
      }
    } finally {
      call.wake = undefined;
      call.current = undefined;
      round.signal.removeEventListener('abort', onAbort);
    }
  }

  /** The key, or undefined (logged) when its file cannot be read or made. */
  #usableKey(): Buffer | undefined {
    try {
      return this.#keyOf();
    } catch (err) {
      this.#logger.error({ error: (err as Error).message }, 'requestState key unusable: backends cannot ask 2026-07-28 callers for input');
      return undefined;
    }
  }

  /** Parks the call on its first backend request and answers the caller with input_required and a new state. */
  #park(call: Pending, key: Buffer): Result {
    const ask = call.asks[0] as Ask;
    if (call.id === '') {
      call.id = randomBytes(12).toString('base64url');
      if (call.caller === '') call.caller = `anon:${randomBytes(12).toString('base64url')}`;
      call.digest = call.name();
    }
    call.round += 1;
    call.expires = Date.now() + this.#ttl;
    const payload: StatePayload = { p: call.id, r: call.round, g: this.#process, c: call.caller, d: call.digest, e: call.expires };
    const requestState = seal(key, payload);
    this.#pending.set(call.id, call);
    call.timer = setTimeout(() => this.#expire(call), this.#wait);
    call.timer.unref();
    this.#logger.debug({ method: ask.method, ...this.size }, 'backend request parked: the 2026-07-28 caller was answered input_required');
    return {
      resultType: 'input_required',
      inputRequests: { [keyOf(ask.method, call.round)]: { method: ask.method, params: ask.params ?? {} } },
      requestState,
    };
  }

  #unpark(call: Pending): void {
    clearTimeout(call.timer);
    call.timer = undefined;
    this.#pending.delete(call.id);
  }

  /** No retry came: the backend's requests are answered with an error and the entry dropped. */
  #expire(call: Pending): void {
    this.#unpark(call);
    call.expired = true;
    for (const ask of call.asks.splice(0)) {
      ask.reject(rpcFailure(ProtocolErrorCode.InternalError, `stonegate: the 2026-07-28 caller did not answer ${ask.method} within ${this.#wait / 1000} s`));
    }
    call.deadline?.resume();
    this.#logger.info({ ...this.size }, 'input request expired: the 2026-07-28 caller did not retry in time; the backend was answered with an error');
  }

  /** The call ended. Parked: its state's retry gets the result, or hears that the call failed. */
  #settle(call: Pending, outcome: { result: CallToolResult } | { error: unknown }, failure: BridgeFailure): void {
    call.outcome = outcome;
    call.wake?.();
    for (const ask of call.asks.splice(0)) ask.reject(rpcFailure(ProtocolErrorCode.InternalError, 'stonegate: the call has ended'));
    if (!this.#pending.has(call.id)) return;
    this.#unpark(call);
    const why = 'result' in outcome ? undefined : textOf(failure(outcome.error));
    const timer = setTimeout(() => this.#ended.delete(call.id), Math.max(0, call.expires - Date.now()));
    timer.unref();
    this.#ended.set(call.id, { round: call.round, ...('result' in outcome ? { result: outcome.result } : { why }), timer });
    this.#logger.info({ ...this.size, error: why }, 'a call parked on an input request ended before its caller retried');
  }
}

/** The key of an input request: its kind and round, unique within the call. */
function keyOf(method: string, round: number): string {
  return `${method === 'sampling/createMessage' ? 'sampling' : method === 'elicitation/create' ? 'elicitation' : 'input'}_${round}`;
}

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : 'the call failed';
}

/** One bridge per gateway (keyed on its router): made on first use. */
const bridges = new WeakMap<object, InputBridge>();

export function inputBridgeOf(owner: object, make: () => InputBridge): InputBridge {
  let bridge = bridges.get(owner);
  if (bridge === undefined) {
    bridge = make();
    bridges.set(owner, bridge);
  }
  return bridge;
}
