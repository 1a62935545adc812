import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SubjectTokens } from '../../src/auth/subject-tokens.js';
import { tokenExchangeGuard } from '../../src/auth/token-exchange-guard.js';
import { buildConfig } from '../../src/config/load.js';
import type { BackendConfig } from '../../src/config/schema.js';
import type { CallOutcome, CallRequest } from '../../src/router/router.js';

/*
 * [oauth-out] Who a token_exchange backend's call goes as, before any
 * exchange or connection: other backends untouched, callers without an
 * OAuth token refused or (with fallback) sent as the gateway, and an OAuth
 * caller whose token is not held never sent as the gateway.
 */

const config = buildConfig(
  {
    backends: [
      { name: 'plain', transport: 'http', url: 'http://127.0.0.1:9/plain' },
      { name: 'tx', transport: 'http', url: 'http://127.0.0.1:9/tx', oauth: { grant: 'token_exchange', client_id: 'gw', client_secret: 's' } },
      {
        name: 'txfb',
        transport: 'http',
        url: 'http://127.0.0.1:9/txfb',
        oauth: { grant: 'token_exchange', client_id: 'gw', client_secret: 's', fallback: 'client_credentials' },
      },
    ],
  },
  '(test)',
  tmpdir(),
);
const byName = new Map<string, BackendConfig>(config.backends.map((b) => [b.name, b]));
const guard = tokenExchangeGuard((s) => byName.get(s), new SubjectTokens());
const OUTCOME: CallOutcome = { result: { content: [] }, server: 'x', tool: 'echo', duration_ms: 0 };

async function through(request: CallRequest): Promise<CallRequest> {
  let seen: CallRequest | undefined;
  await guard(request, async (r) => {
    seen = r;
    return OUTCOME;
  });
  if (seen === undefined) throw new Error('next was not called');
  return seen;
}

describe('tokenExchangeGuard', () => {
  it('leaves the calls of other backends as they are', async () => {
    const request: CallRequest = { server: 'plain', tool: 'echo', caller: 'oauth:alice' };
    expect(await through(request)).toBe(request);
  });

  it('sends a caller without an OAuth token as the gateway when the backend has fallback, on the shared connections', async () => {
    const request: CallRequest = { server: 'txfb', tool: 'echo', caller: 'script' };
    expect(await through(request)).toBe(request);
    expect(await through({ server: 'txfb', tool: 'echo' })).toMatchObject({ server: 'txfb' });
  });

  it('refuses a caller without an OAuth token when the backend has no fallback', async () => {
    await expect(through({ server: 'tx', tool: 'echo', caller: 'script' })).rejects.toMatchObject({
      code: 'BACKEND_AUTH_REQUIRED',
      message: expect.stringMatching(/'script' is a static token.*fallback = "client_credentials"/),
    });
    await expect(through({ server: 'tx', tool: 'echo' })).rejects.toThrow(/this call has no token/);
  });

  it('never sends an OAuth caller whose token is not held as the gateway, fallback or not', async () => {
    for (const server of ['tx', 'txfb']) {
      await expect(through({ server, tool: 'echo', caller: 'oauth:alice' })).rejects.toMatchObject({
        code: 'BACKEND_AUTH_REQUIRED',
        message: expect.stringMatching(/the OAuth token of 'oauth:alice' has expired or is not held/),
      });
    }
  });
});
