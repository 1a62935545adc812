import { type AddressInfo, createServer } from 'node:net';
import { SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { httpFault } from '../../src/supervisor/http-fault.js';

/** What fetch throws when nothing listens: a TypeError whose cause carries the system code. */
async function refused(): Promise<Error> {
  // A port that was free a moment ago (port 1 is one fetch refuses to use at all).
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    await fetch(`http://127.0.0.1:${port}/mcp`);
  } catch (err) {
    return err as Error;
  }
  throw new Error('port 1 answered');
}

/** What the SDK's Streamable HTTP client transport throws for a POST the server answered with `status`. */
function httpError(status: number, message: string): SdkHttpError {
  return new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, message, { status, statusText: '', text: message });
}

describe('httpFault', () => {
  it('reads a 404, and a 400 that names the session, as a lost session', () => {
    expect(httpFault(httpError(404, 'Error POSTing to endpoint: {"error":"Session not found"}'))).toMatchObject({
      kind: 'session',
      reason: expect.stringContaining('HTTP 404'),
    });
    expect(httpFault(httpError(400, 'Error POSTing to endpoint: Bad Request: No valid session ID provided'))?.kind).toBe('session');
  });

  it('says nothing of other HTTP answers (a 400 about something else, a 500, a 401)', () => {
    expect(httpFault(httpError(400, 'Error POSTing to endpoint: Bad Request: invalid JSON'))).toBeUndefined();
    expect(httpFault(httpError(500, 'Error POSTing to endpoint: boom'))).toBeUndefined();
    expect(httpFault(httpError(401, 'Unauthorized'))).toBeUndefined();
    expect(httpFault(new Error('Request timed out'))).toBeUndefined();
    expect(httpFault('text')).toBeUndefined();
  });

  it('reads a refused connection as unreachable, with the system error in the reason', async () => {
    const fault = httpFault(await refused());
    expect(fault?.kind).toBe('unreachable');
    expect(fault?.reason).toContain('ECONNREFUSED');
    // The SDK's rewrapped SSE reconnection failure keeps only the message.
    expect(httpFault(new Error('Failed to reconnect SSE stream: fetch failed'))?.kind).toBe('unreachable');
  });
});
