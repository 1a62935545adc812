/**
 * The one error catalogue of the gateway. Every failure a caller can see has a
 * stable code from this table; each surface (REST, MCP) translates it at one
 * boundary. The error table of docs/errors.md is checked against it by a test.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, summary: 'The request body or query is malformed (not JSON, wrong types, missing fields).' },
  INVALID_ARGUMENTS: { status: 400, summary: "The tool arguments do not match the tool's input schema." },
  UNAUTHORIZED: { status: 401, summary: 'No valid bearer token was given.' },
  FORBIDDEN: { status: 403, summary: 'The token may not use this route or backend, or the Origin/Host is not allowed.' },
  UNKNOWN_SERVER: { status: 404, summary: 'No backend has that name.' },
  UNKNOWN_TOOL: { status: 404, summary: 'The backend has no tool of that name.' },
  UNKNOWN_VIEW: { status: 404, summary: 'No [[views]] entry has that name.' },
  UNKNOWN_CALL: { status: 404, summary: 'No async call has that id (or it expired).' },
  UNKNOWN_ROUTE: { status: 404, summary: 'No route matches the method and path.' },
  CONFLICT: { status: 409, summary: 'The name exists already, or a version check failed.' },
  PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body is over the size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'A POST body must be sent as application/json.' },
  RATE_LIMITED: {
    status: 429,
    summary: 'Too many requests, calls, sessions or streams for this token (or client address); retry after the Retry-After delay.',
  },
  SESSION_AFFINITY_NEEDS_IDENTITY: {
    status: 400,
    summary:
      'A backend with affinity = "session" was called by a 2026-07-28 MCP client without a token: it has no session and no identity to key a process of its own on.',
  },
  INTERNAL: { status: 500, summary: 'A bug in the gateway; the message and the log say where.' },
  BACKEND_ERROR: { status: 502, summary: 'The backend answered with a JSON-RPC error, or with a response that is not valid JSON-RPC.' },
  CIRCUIT_OPEN: { status: 503, summary: "The backend's circuit breaker is open; calls fail fast until it recovers." },
  BACKEND_UNAVAILABLE: { status: 503, summary: 'The backend is stopped, restarting, failed, or crashed during the call.' },
  // [oauth-out] 503, never 401: a 401 would send the agent's client into its own OAuth flow against the gateway.
  BACKEND_AUTH_REQUIRED: { status: 503, summary: 'The gateway holds no usable OAuth token for the backend (needs_auth); its other backends keep serving.' },
  POOL_EXHAUSTED: { status: 503, summary: "No connection to the backend became free within the pool's acquire_timeout." },
  DISPATCH_FULL: { status: 503, summary: 'The async dispatch table is full.' },
  AUTH_UNAVAILABLE: {
    status: 503,
    summary: 'The identity provider of [auth.oauth] (its metadata or keys) could not be reached to verify a token; retry after the Retry-After delay.',
  },
  STORE_UNAVAILABLE: { status: 503, summary: 'A database file of data_dir is corrupt, unreadable, deleted or replaced; the message names it and the fix.' },
  TIMEOUT: { status: 504, summary: 'The backend did not answer within the request timeout; it was sent notifications/cancelled.' },
  INTERRUPTED: { status: 500, summary: 'An async call was running when the gateway stopped.' },
  CANCELLED: { status: 499, summary: 'The call was cancelled by its caller.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatewayErrorOptions {
  /** Seconds after which a retry may succeed; sent as Retry-After. */
  retryAfter?: number;
  /** Extra fields for the error body, e.g. the current version on CONFLICT. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** A failure with a stable code and the HTTP status that goes with it. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly retryAfter: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfter = options.retryAfter;
    this.details = options.details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** The wire body every surface uses: `{error, code, ...details}`. */
  toJSON(): Record<string, unknown> {
    return { error: this.message, code: this.code, ...this.details };
  }
}

/** Whether a value is a GatewayError (also across module copies). */
export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

/** Wraps anything thrown into a GatewayError, keeping GatewayErrors as they are. */
export function toGatewayError(value: unknown, fallback: ErrorCode = 'INTERNAL'): GatewayError {
  if (value instanceof GatewayError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new GatewayError(fallback, message, { cause: value });
}

/**
 * A JSON-RPC error for the SDK's Protocol to send as is. The SDK's McpError
 * prefixes its message with "MCP error <code>:", and the client's McpError
 * prefixes it again; a plain Error with a numeric `code` goes out unchanged.
 */
export function rpcFailure(code: number, message: string, data?: unknown): Error & { code: number; data?: unknown } {
  return Object.assign(new Error(message), { code, data });
}
