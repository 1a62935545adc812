import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 18: a caller's mistakes (INVALID_ARGUMENTS, UNKNOWN_TOOL,
// FORBIDDEN) and a tool's own isError result are not the backend's errors.
// /stats and /server/list keep backend errors, caller errors and tool errors
// apart; only the backend's own errors make its error_rate.

const ADMIN = 'stats-admin-token-0123456789';
const NARROW = 'stats-narrow-token-0123456789';

let gw: RunningGateway;

async function as(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const call = (token: string, tool: string, args: Record<string, unknown> = {}): ReturnType<typeof as> =>
  as(token, 'POST', '/call', { server: 'counter', tool, arguments: args });

beforeAll(async () => {
  gw = await startGateway(
    `
[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${STATS_ADMIN}"

[[auth.tokens]]
name = "narrow"
token = "\${STATS_NARROW}"
servers = ["other"]

[[backends]]
name = "counter"
command = "node"
args = [${q(fixture('counter-server'))}]

[[backends]]
name = "other"
command = "node"
args = [${q(fixture('counter-server'))}]
`,
    { env: { STATS_ADMIN: ADMIN, STATS_NARROW: NARROW } },
  );
  for (const name of ['counter', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(stopAll);

describe('#19.18 caller, tool and backend errors kept apart', () => {
  it('counts only the backend’s own failures in errors and error_rate', async () => {
    expect((await call(ADMIN, 'ok')).status).toBe(200);
    expect((await call(ADMIN, 'slow', {})).body.code).toBe('INVALID_ARGUMENTS');
    expect((await call(ADMIN, 'no_such_tool')).body.code).toBe('UNKNOWN_TOOL');
    expect((await call(NARROW, 'ok')).body.code).toBe('FORBIDDEN');
    const toolError = await call(ADMIN, 'tool_error');
    expect(toolError.status).toBe(200);
    expect(toolError.body.result).toMatchObject({ isError: true });
    expect((await call(ADMIN, 'fail')).body.code).toBe('BACKEND_ERROR');

    const stats = await as(ADMIN, 'GET', '/stats');
    expect((stats.body.backends as Record<string, unknown>).counter).toMatchObject({
      calls: 5,
      errors: 1,
      caller_errors: 2,
      tool_errors: 1,
      stopped_calls: 0,
      error_rate: 0.2,
    });
    expect(stats.body).toMatchObject({ total_calls: 5, total_errors: 1, total_caller_errors: 2, total_tool_errors: 1, error_rate: 0.2 });
    const list = await as(ADMIN, 'GET', '/server/list');
    expect((list.body.servers as { name: string; error_rate: number }[]).find((s) => s.name === 'counter')?.error_rate).toBe(0.2);
  });

  it('keeps the split in the /stats of a token limited to backends', async () => {
    expect((await call(ADMIN, 'slow', {})).body.code).toBe('INVALID_ARGUMENTS');
    const narrow = await as(NARROW, 'GET', '/stats');
    expect(narrow.status).toBe(200);
    // The narrow token sees only 'other', which had no calls: none of counter's counts leak.
    expect(narrow.body).toMatchObject({ total_calls: 0, total_errors: 0, total_caller_errors: 0, total_tool_errors: 0, total_stopped_calls: 0 });
  });
});
