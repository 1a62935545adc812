/** Stable error codes of the coordination backend, with the HTTP status each maps to on REST. */
export const COORD_ERROR_STATUS = {
  BAD_REQUEST: 400,
  FORBIDDEN: 403,
  UNKNOWN_AGENT: 404,
  UNKNOWN_TASK: 404,
  UNKNOWN_CLAIM: 404,
  UNKNOWN_THREAD: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type CoordErrorCode = keyof typeof COORD_ERROR_STATUS;
export type CoordErrorStatus = (typeof COORD_ERROR_STATUS)[CoordErrorCode];

/**
 * A refusal a caller can act on: a stable code, a sentence saying what failed
 * and what to do, and optional details (for CONFLICT: the current version and
 * value; for a bad input: `field`, the one field to blame). Thrown by stores; translated once per surface (REST onError, the MCP
 * tool result mapper).
 */
export class CoordError extends Error {
  readonly code: CoordErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: CoordErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CoordError';
    this.code = code;
    this.details = details;
  }

  /** The one input field to blame (details.field), when one is; REST carries it in the body, MCP in `_meta["stonegate/error"]`. */
  get field(): string | undefined {
    const field = this.details?.field;
    return typeof field === 'string' ? field : undefined;
  }

  get status(): CoordErrorStatus {
    return COORD_ERROR_STATUS[this.code];
  }

  /** The wire body shared by REST and MCP: `{error, code, ...details}`. */
  toJSON(): Record<string, unknown> {
    return { error: this.message, code: this.code, ...this.details };
  }
}
