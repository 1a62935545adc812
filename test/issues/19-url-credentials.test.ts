import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { q, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19 item 2: `user:pass@` in an HTTP backend's URL becomes an
// `Authorization: Basic` header. Its base64 value is derived from the
// password and is as secret: an upstream that echoes the request headers in
// its error must not put it into last_error, the log or /server/add answers.

const USER = 'svc-user';
const PASSWORD = 'pa55word-xyz';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

let upstream: Server;
let url: string;

beforeAll(async () => {
  // A real upstream that refuses every request, quoting the headers it got (as some proxies do).
  upstream = createServer((req, res) => {
    req.resume();
    const auth = req.headers.authorization ?? '';
    // A bearer token is refused quoting the token alone, as many APIs do.
    if (auth.startsWith('Bearer ')) res.writeHead(401, { 'content-type': 'text/plain' }).end(`the token ${auth.slice(7)} has expired`);
    else res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request; headers were ${JSON.stringify(req.headers)}`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  url = `http://${USER}:${PASSWORD}@127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  await stopAll();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/** A backend that cannot start is marked failed after one quick retry. */
const FAILS_FAST = `[supervisor]
restart_backoff_min = 10
restart_backoff_max = 20
crash_loop_restarts = 1
`;

describe('issue 19: the Basic header derived from URL credentials is a secret', () => {
  it('keeps it out of last_error and the log', async () => {
    const gw = await startGateway(`${FAILS_FAST}
[[backends]]
name = "echoer"
transport = "http"
url = ${q(url)}
`);
    await gw.waitForLog((l) => l.msg === 'backend failed' && l.backend === 'echoer');
    const row = await serverRow(gw, 'echoer');
    // The upstream's answer is there (the test would prove nothing otherwise), without the credential.
    expect(row.last_error).toMatch(/headers were/);
    expect(row.last_error).not.toContain(BASIC);
    expect(row.last_error).toContain('[redacted]');
    expect(JSON.stringify(gw.logs)).toMatch(/headers were/);
    expect(JSON.stringify(gw.logs)).not.toContain(BASIC);
  });

  it('keeps a header credential quoted alone out of last_error and /server/add answers', async () => {
    const token = 'tok-0123456789abcdef';
    const plain = url.replace(`${USER}:${PASSWORD}@`, '');
    const gw = await startGateway(`${FAILS_FAST}
[[backends]]
name = "bearer"
transport = "http"
url = ${q(plain)}
headers = { Authorization = ${q(`Bearer ${token}`)} }
`);
    await gw.waitForLog((l) => l.msg === 'backend failed' && l.backend === 'bearer');
    const row = await serverRow(gw, 'bearer');
    expect(row.last_error).toMatch(/has expired/);
    expect(row.last_error).not.toContain(token);
    const added = await gw.request('POST', '/server/add', { name: 'bearer2', transport: 'http', url: plain, headers: { Authorization: `Bearer ${token}` } });
    expect(JSON.stringify(added.body)).toMatch(/has expired/);
    expect(JSON.stringify(added.body)).not.toContain(token);
    expect(JSON.stringify(gw.logs)).not.toContain(token);
  });

  it('keeps it out of a POST /server/add answer', async () => {
    const gw = await startGateway('');
    const added = await gw.request('POST', '/server/add', { name: 'echoer', transport: 'http', url });
    expect(added.body.code).toBe('BACKEND_UNAVAILABLE');
    const text = JSON.stringify(added.body);
    expect(text).toMatch(/headers were/);
    expect(text).not.toContain(BASIC);
    expect(text).not.toContain(PASSWORD);
    expect(JSON.stringify(gw.logs)).not.toContain(BASIC);
  });
});
