import { SdkHttpError } from '@modelcontextprotocol/client';

/**
 * What a failed exchange with an HTTP backend says about the link itself
 * (not about one call):
 * - `session`: the server no longer knows our MCP session — HTTP 404, or a
 *   400 that names the session ("No valid session ID provided"), as a
 *   server answers after it restarted. The request was refused before any
 *   tool ran, and every later one will be: the session must be dropped and
 *   a new one initialized.
 * - `unreachable`: no HTTP answer at all (connection refused or reset, host
 *   unknown): the server is down or restarting.
 */
export interface HttpFault {
  kind: 'session' | 'unreachable';
  /** The end of a sentence that starts with the backend's name. */
  reason: string;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Classifies an error of the SDK's HTTP client transports; undefined when it says nothing about the link. */
export function httpFault(error: unknown): HttpFault | undefined {
  if (error instanceof SdkHttpError) {
    const detail = error.message.replace(/^Streamable HTTP error: /, '').slice(0, 300);
    if (error.status === 404 || (error.status === 400 && /session/i.test(error.message))) {
      return {
        kind: 'session',
        reason: `lost its HTTP session (the server answered HTTP ${error.status}: ${detail}); the server restarted or dropped it, so a new session is initialized`,
      };
    }
    return undefined;
  }
  if (!(error instanceof Error)) return undefined;
  const code = causeCode(error);
  if (code !== undefined && UNREACHABLE.has(code)) return { kind: 'unreachable', reason: `is unreachable: ${causeMessage(error) ?? code}` };
  // The SDK rewraps a failed reconnection of its SSE stream and drops the cause.
  if (/fetch failed/.test(error.message)) return { kind: 'unreachable', reason: `is unreachable: ${error.message}` };
  return undefined;
}

/** The system error code under a fetch failure (`TypeError: fetch failed` carries it as `cause`). */
export function causeCode(error: Error): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  if (cause === null || typeof cause !== 'object') return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function causeMessage(error: Error): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : undefined;
}
