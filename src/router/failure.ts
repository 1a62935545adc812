import { ProtocolError } from '@modelcontextprotocol/client';
import { GatewayError } from '../errors.js';
import type { AbortWatch, Connection } from '../pool/connection.js';
import type { Backend } from '../supervisor/backend.js';
import { isBackendAuthFailure } from '../supervisor/backend-oauth.js';
import { httpFault } from '../supervisor/http-fault.js';
import { MalformedResponse } from '../supervisor/line-transport.js';
import type { Deadline } from './deadline.js';

// What the caller is told when a request to a backend fails: the one place
// that turns what the SDK client threw into the gateway's error.

/** What describeFailure needs to know about the request that failed. */
export interface FailureContext {
  server: string;
  tool: string;
  /** The setting that gave the timeout, when it is not the backend's own. */
  setting?: string | undefined;
  connection: Connection;
  backend: Backend;
  deadline: Deadline;
  signal: AbortWatch | undefined;
}

/**
 * Turns what the SDK client threw into the gateway's error for it. Closed
 * and timed out are facts the gateway saw itself — its link ended, its own
 * deadline expired — never codes a backend sent: a backend's JSON-RPC
 * error (-32000 and -32001 included) from a live link is BACKEND_ERROR
 * with its code, and the breaker does not count it (see breaker.ts).
 */
export async function describeFailure(err: unknown, ctx: FailureContext): Promise<GatewayError> {
  if (err instanceof GatewayError) return err;
  // [oauth-out] The backend refused the gateway's token and no new one could be had: its link ends, the backend shows needs_auth.
  if (isBackendAuthFailure(err))
    return new GatewayError('BACKEND_AUTH_REQUIRED', `Backend '${ctx.server}' needs auth (during ${ctx.tool}): ${(err as Error).message}`);
  if (ctx.deadline.expired(err)) return describeExpiry(ctx);
  if (ctx.signal?.aborted === true) {
    return new GatewayError('CANCELLED', `Call to ${ctx.server}/${ctx.tool} was cancelled by the caller; the backend was sent notifications/cancelled`);
  }
  // The SDK drops its transport before it fails the requests of a closed
  // link (and answers "Not connected" to one sent a moment later).
  if (ctx.connection.client.transport === undefined) return describeClosed(ctx);
  if (err instanceof ProtocolError && err.data instanceof MalformedResponse) {
    return new GatewayError(
      'BACKEND_ERROR',
      `Backend '${ctx.server}' answered ${ctx.tool} with a malformed JSON-RPC response (${err.data.problem}); the backend is broken, not the call`,
      {
        details: { malformed: true },
      },
    );
  }
  if (err instanceof ProtocolError) {
    return new GatewayError(
      'BACKEND_ERROR',
      `Backend '${ctx.server}' answered ${ctx.tool} with error ${err.code}: ${err.message.replace(/^MCP error -?\d+: /, '')}`,
      {
        details: { backend_code: err.code },
        // [mcp-bridge] The backend's own error (its data), for the errors relayed to a 2026-07-28 caller as they came (input-rounds.ts).
        cause: err,
      },
    );
  }
  // The SDK's answer to a request on a client whose transport has just
  // closed: the same end, seen a moment earlier.
  if (err instanceof Error && err.message === 'Not connected') return describeClosed(ctx);
  const fault = httpFault(err);
  // [mcp-bridge] Not on a 2026-07-28 link: it has no session, its 404 is that request's answer.
  if (fault?.kind === 'session' && ctx.connection.era !== 'modern') {
    // The link ends now and the backend makes a new session; once its end is
    // in, use() waits for the new one, so the call can be sent again.
    await Promise.race([ctx.connection.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000))]);
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${fault.reason}; ${ctx.tool} did not reach it, retry it`, {
      retryAfter: 1,
      details: { unsent: true },
    });
  }
  if (fault?.kind === 'unreachable') {
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${fault.reason} (during ${ctx.tool}); retry once the server is back`, {
      retryAfter: 1,
    });
  }
  return new GatewayError('BACKEND_UNAVAILABLE', `Call to ${ctx.server}/${ctx.tool} failed: ${(err as Error).message ?? String(err)}`);
}

/**
 * TIMEOUT, quoting the limit the deadline really applied and the setting
 * that gave it: the backend's timeout ([gateway] request_timeout unless the
 * backend sets its own), a per-call one (async_timeout), or the hard
 * maximum that ended a call progress kept extending.
 */
function describeExpiry(ctx: FailureContext): GatewayError {
  const { ms, capped } = ctx.deadline.applied();
  const sent = 'it was sent notifications/cancelled';
  if (capped) {
    return new GatewayError(
      'TIMEOUT',
      `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms, the limit even with progress ([gateway] max_request_timeout, or the backend's timeout when larger); ${sent}. Raise max_request_timeout if the tool is slow`,
    );
  }
  if (ctx.setting !== undefined)
    return new GatewayError(
      'TIMEOUT',
      `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms (${ctx.setting}); ${sent}. Raise ${ctx.setting} if the tool is slow`,
    );
  return new GatewayError(
    'TIMEOUT',
    `Backend '${ctx.server}' did not answer ${ctx.tool} within ${ms} ms; ${sent}. Raise the backend's timeout if the tool is slow`,
  );
}

/**
 * A call whose connection closed under it. What the caller is told follows
 * from why: an operator's stop, remove or restart cut it (no fault of the
 * backend, `cut_by`; only a restart is worth retrying soon), or the link
 * died (`crashed`: only then may a repeatable call be retried), and then
 * whether the backend is being restarted, still serves on other
 * connections, or has failed for good.
 */
async function describeClosed(ctx: FailureContext): Promise<GatewayError> {
  const during = `while ${ctx.tool} was running; the call was cut off`;
  switch (ctx.connection.closedBy) {
    case 'stop':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' was stopped (POST /server/stop) ${during}. Start it with POST /server/start, then call again`,
        { details: { cut_by: 'stop' } },
      );
    case 'remove':
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' was removed (POST /server/remove) ${during}`, { details: { cut_by: 'remove' } });
    case 'restart':
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' was restarted (POST /server/restart) ${during}; call again once it runs`, {
        retryAfter: 1,
        details: { cut_by: 'restart' },
      });
    case 'shutdown':
      return new GatewayError('BACKEND_UNAVAILABLE', `The gateway is shutting down; ${ctx.server}/${ctx.tool} was cut off`, {
        details: { cut_by: 'shutdown' },
      });
  }
  const end = await Promise.race([ctx.connection.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
  if (end?.expected === true) {
    return new GatewayError('BACKEND_UNAVAILABLE', `The gateway closed its connection to backend '${ctx.server}' ${during}; call again`, { retryAfter: 1 });
  }
  // No end yet: the link closed, but how is not known.
  if (end === undefined)
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' closed the connection during ${ctx.tool}; retry shortly`, { retryAfter: 1 });
  const crashed = { crashed: true };
  switch (ctx.backend.state) {
    case 'failed':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool} and has failed: ${ctx.backend.info().last_error ?? 'unknown error'}; fix it and POST /server/restart`,
        { details: crashed },
      );
    case 'stopped':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; it is stopped, start it with POST /server/start`,
        { details: crashed },
      );
    case 'running':
    case 'degraded':
      return new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; its other connections still serve, retry shortly`,
        { retryAfter: 1, details: crashed },
      );
    default:
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${ctx.server}' ${end.reason} during ${ctx.tool}; it is being restarted, retry shortly`, {
        retryAfter: 1,
        details: crashed,
      });
  }
}
