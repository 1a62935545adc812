import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19 item 22: `curl -X POST … -d '{…}'` — tried as a new user would,
 * without -H 'Content-Type: application/json' — sends
 * application/x-www-form-urlencoded and got 415. Such a body is now taken
 * as JSON when no browser sent it (no Origin, no Sec-Fetch-Site): browsers
 * send Origin on every POST, so a form a web page submits is still refused,
 * and every other guard (roles, acting as itself, depth) sees the body the
 * same way. Real curl, on a real gateway.
 */

const run = promisify(execFile);

/** curl's answer: the status and the parsed body. */
async function curl(args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args], { timeout: 30_000 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) as Record<string, unknown> };
}

describe('curl -d without a Content-Type (issue #19 item 22)', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(`${demoBackend()}\n[coordination]\n\n[gateway]\nmax_json_depth = 8\n`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  });
  afterAll(stopAll);

  it('calls a tool: the form-urlencoded body is read as JSON', async () => {
    const answer = await curl(['-X', 'POST', `${gw.url}/call`, '-d', '{"server": "demo", "tool": "echo", "arguments": {"text": "plain curl"}}']);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ result: { content: [{ type: 'text', text: 'plain curl' }] } });
  });

  it('posts to /coord the same way', async () => {
    const answer = await curl(['-X', 'POST', `${gw.url}/coord/agent/register`, '-d', '{"agent_id": "curl-user", "role": "tester"}']);
    expect(answer.status).toBe(200);
  });

  it('still refuses a form a browser posts (it carries Origin, here a page on another loopback port), and one with Sec-Fetch-Site', async () => {
    const form = ['-X', 'POST', `${gw.url}/call`, '-d', '{"server": "demo", "tool": "echo", "arguments": {"text": "x"}}'];
    const fromPage = await curl([...form, '-H', 'Origin: http://localhost:5173']);
    expect(fromPage.status).toBe(415);
    expect(fromPage.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', error: expect.stringMatching(/from a browser/) });
    expect((await curl([...form, '-H', 'Sec-Fetch-Site: cross-site'])).status).toBe(415);
    // Other types stay refused, Origin or not.
    expect((await curl([...form, '-H', 'Content-Type: text/plain'])).status).toBe(415);
  });

  it('answers a real form body with BAD_REQUEST, and applies the depth limit', async () => {
    const form = await curl(['-X', 'POST', `${gw.url}/call`, '-d', 'server=demo&tool=echo']);
    expect(form.status).toBe(400);
    expect(form.body).toMatchObject({ code: 'BAD_REQUEST', error: expect.stringMatching(/not valid JSON/) });
    const deep = await curl(['-X', 'POST', `${gw.url}/call`, '-d', `{"server": "demo", "tool": "echo", "arguments": ${'['.repeat(20)}${']'.repeat(20)}}`]);
    expect(deep.status).toBe(400);
    expect(deep.body).toMatchObject({ code: 'BAD_REQUEST', error: expect.stringMatching(/max_json_depth/) });
  });
});

describe('curl -d with auth on: the guards read the same body (issue #19 item 22)', () => {
  let gw: RunningGateway;
  const AGENT = 'curl-agent-0123456789abcdef';
  beforeAll(async () => {
    gw = await startGateway(`${demoBackend()}\n[coordination]\n\n[[auth.tokens]]\nname = "writer"\nrole = "agent"\ntoken = "\${CURL_AGENT}"\n`, {
      env: { CURL_AGENT: AGENT },
    });
  });
  afterAll(stopAll);

  it('an agent token acts only as itself on /coord, and admin routes stay admin-only', async () => {
    const auth = ['-H', `Authorization: Bearer ${AGENT}`];
    const asOther = await curl(['-X', 'POST', `${gw.url}/coord/msg/send`, ...auth, '-d', '{"from": "someone-else", "to": "writer", "content": "hi"}']);
    expect(asOther.status).toBe(403);
    expect(asOther.body).toMatchObject({ code: 'FORBIDDEN' });
    const admin = await curl(['-X', 'POST', `${gw.url}/server/restart`, ...auth, '-d', '{"name": "demo"}']);
    expect(admin.status).toBe(403);
    const self = await curl(['-X', 'POST', `${gw.url}/coord/agent/register`, ...auth, '-d', '{"agent_id": "writer", "role": "writing"}']);
    expect(self.status).toBe(200);
  });
});
