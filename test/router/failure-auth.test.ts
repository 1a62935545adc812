import { SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { describeFailure, type FailureContext } from '../../src/router/failure.js';
import { BackendAuthError } from '../../src/supervisor/backend-oauth.js';

/* Issue #27: a call that meets the OAuth flow's failure is BACKEND_AUTH_REQUIRED (503), never a 401 nor BACKEND_UNAVAILABLE. */

// Nothing of the link is read for an auth failure: it is decided before.
const ctx = { server: 'remote', tool: 'echo', signal: undefined } as unknown as FailureContext;

describe('describeFailure of the OAuth flow', () => {
  it('is BACKEND_AUTH_REQUIRED for the flow failing and for a 401 after a new token', async () => {
    const flow = await describeFailure(new BackendAuthError('no OAuth token for backend remote: invalid_client'), ctx);
    expect(flow.code).toBe('BACKEND_AUTH_REQUIRED');
    expect(flow.status).toBe(503);
    expect(flow.message).toContain('invalid_client');
    const again = await describeFailure(
      new SdkHttpError(SdkErrorCode.ClientHttpAuthentication, 'Server returned 401 after re-authentication', { status: 401 }),
      ctx,
    );
    expect(again.code).toBe('BACKEND_AUTH_REQUIRED');
  });
});
