import type { ErrorCode, GatewayError } from '../errors.js';

/**
 * Whose failure a finished call was. `backend`: the backend failed it
 * (crashed, timed out, answered with an error or garbage, was unavailable
 * or shed). `caller`: the request was wrong or refused before any backend
 * judged it (bad arguments, unknown tool, forbidden, cancelled). `tool`: the
 * tool ran and reported a failure itself (a result with isError).
 * `stopped`: an operator stopped, restarted or removed the backend (or the
 * gateway shut down) under the call, or it was called while stopped.
 * /stats keeps them apart; only `backend` makes a backend's error_rate.
 */
export type Fault = 'backend' | 'caller' | 'tool' | 'stopped';

const CALLER_CODES: ReadonlySet<ErrorCode> = new Set([
  'BAD_REQUEST',
  'INVALID_ARGUMENTS',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'UNKNOWN_SERVER',
  'UNKNOWN_TOOL',
  'RATE_LIMITED',
  'CANCELLED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
]);

/** The fault of a call that failed with `error`. */
export function faultOf(error: GatewayError): Exclude<Fault, 'tool'> {
  if (CALLER_CODES.has(error.code)) return 'caller';
  if (error.details?.cut_by !== undefined || error.details?.state === 'stopped') return 'stopped';
  return 'backend';
}
