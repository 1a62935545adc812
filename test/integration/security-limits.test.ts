import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, DEMO, demoBackend, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// The front door's limits without auth (loopback): Origin, Content-Type,
// body size on the stream, runtime-add policy, slow clients; and the
// refusal to listen on a non-loopback address without tokens.

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
});

/** A request sent with Transfer-Encoding: chunked (no Content-Length), in pieces. */
function chunked(url: string, path: string, headers: Record<string, string>, pieces: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest(
      { host: target.hostname, port: target.port, path, method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    // The gateway may answer 413 and close before every piece is written.
    req.on('error', (err) => (req.writableEnded ? undefined : reject(err)));
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

describe('listening without auth', () => {
  it('refuses a non-loopback address without [auth] tokens: exit 2 and a message naming both fixes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-sec-'));
    try {
      writeFileSync(join(dir, 'stonegate.toml'), '[coordination]\nenabled = false\n');
      const proc = spawn(
        process.execPath,
        [BIN, 'serve', '-c', join(dir, 'stonegate.toml'), '--host', '0.0.0.0', '--port', '0', '--data-dir', join(dir, 'data')],
        { cwd: ROOT },
      );
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
      expect(code).toBe(2);
      expect(stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
      expect(stderr).toMatch(/\[auth\]/);
      expect(stderr).toMatch(/127\.0\.0\.1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('listens on a non-loopback address once a token is configured', async () => {
    const gw = await startGateway('[coordination]\nenabled = false\n\n[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "${SEC_OPS}"\n', {
      args: ['--host', '0.0.0.0'],
      env: { SEC_OPS: 'ops-token-0123456789abcdef' },
    });
    const url = gw.url.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${url}/tools`)).status).toBe(401);
    expect((await fetch(`${url}/tools`, { headers: { authorization: 'Bearer ops-token-0123456789abcdef' } })).status).toBe(200);
    await gw.stop();
  });
});

describe('front-door limits', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(`
[server]
headers_timeout = 300
request_body_timeout = 600

[gateway]
max_body_bytes = 4096
allowed_origins = ["https://console.example.com"]

[security]
allowed_commands = ["node"]
allowed_env = ["NODE_PATH"]

${demoBackend()}

[[backends]]
name = "leaky"
command = "node"
args = ["-e", "process.stderr.write('key is ' + process.env.LEAKY_KEY + '\\\\n'); process.exit(1)"]
env = { LEAKY_KEY = "leaky-SENTINEL-8c2e4f6a1b3d" }
auto_restart = false
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  });
  afterAll(stopAll);

  it('refuses a browser Origin not in allowed_origins on admin, REST and MCP routes (403)', async () => {
    const add = JSON.stringify({ name: 'evil', command: 'node', args: [DEMO] });
    for (const origin of ['http://evil.example.com', 'null', 'https://console.example.com.evil.net']) {
      const admin = await fetch(`${gw.url}/server/add`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: add });
      expect(admin.status, origin).toBe(403);
      expect(((await admin.json()) as { code: string }).code).toBe('FORBIDDEN');
      expect((await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, origin }, body: INIT })).status).toBe(403);
      expect((await fetch(`${gw.url}/config`, { headers: { origin } })).status).toBe(403);
      expect((await fetch(`${gw.url}/coord/agent/discover`, { headers: { origin } })).status).toBe(403);
    }
    expect(((await (await fetch(`${gw.url}/server/list`)).json()) as { servers: { name: string }[] }).servers.map((s) => s.name)).not.toContain('evil');
    // Listed and loopback origins pass; /health is never guarded.
    expect((await fetch(`${gw.url}/config`, { headers: { origin: 'https://console.example.com' } })).status).toBe(200);
    expect((await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, origin: gw.url }, body: INIT })).status).toBe(200);
    expect((await fetch(`${gw.url}/health`, { headers: { origin: 'http://evil.example.com' } })).status).toBe(200);
  });

  it('answers a POST that is not JSON with 415, so no cross-site form post reaches a route', async () => {
    const body = JSON.stringify({ name: 'evil', command: 'node', args: [DEMO] });
    // A browser sends Origin on every POST: a page on another loopback port (which the Origin check lets through) posting a form.
    const page = { origin: 'http://localhost:5173' };
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      for (const path of ['/server/add', '/call', '/coord/msg/send', '/messages?sessionId=x']) {
        const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': type, ...page }, body });
        expect(res.status, `${type} ${path}`).toBe(415);
        const answer = (await res.json()) as { code?: string; error?: { data?: { code?: string } } };
        expect(answer.code ?? answer.error?.data?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      }
      expect((await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, 'content-type': type }, body: INIT })).status).toBe(415);
    }
    expect((await fetch(`${gw.url}/server/add`, { method: 'POST', body })).status).toBe(415);
    expect(
      (
        await fetch(`${gw.url}/call`, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'ok' } }),
        })
      ).status,
    ).toBe(200);
  });

  it('answers 413 for a body over max_body_bytes, with Content-Length and chunked without it', async () => {
    const big = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'x'.repeat(8192) } });
    const sized = await fetch(`${gw.url}/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(sized.status).toBe(413);
    expect(((await sized.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
    const pieces = Array.from({ length: 16 }, (_, i) => (i === 0 ? big.slice(0, 1024) : big.slice(i * 1024, (i + 1) * 1024)));
    for (const path of ['/call', '/mcp', '/coord/msg/send', '/server/add']) {
      const answer = await chunked(gw.url, path, MCP_HEADERS, pieces);
      expect(answer.status, path).toBe(413);
      expect(answer.body).toContain('PAYLOAD_TOO_LARGE');
    }
    // A chunked body under the limit is read whole.
    const small = await chunked(gw.url, '/call', { 'content-type': 'application/json' }, [
      '{"server":"demo",',
      '"tool":"echo","arguments":{"text":"chunked"}}',
    ]);
    expect(small.status).toBe(200);
    expect(small.body).toContain('chunked');
  });

  it('refuses loader env keys, commands outside allowed_commands and inherit_env in runtime adds (FORBIDDEN naming the fix)', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ env: { LD_PRELOAD: '/tmp/evil.so' } }, /'LD_PRELOAD'.*\[security\] allowed_env/],
      [{ env: { NODE_OPTIONS: '--require /tmp/evil.js' } }, /'NODE_OPTIONS'/],
      [{ env: { DYLD_INSERT_LIBRARIES: '/tmp/x' } }, /'DYLD_INSERT_LIBRARIES'/],
      [{ env: { PATH: '/tmp/evil' } }, /'PATH'/],
      [{ env: { PYTHONPATH: '/tmp' } }, /'PYTHONPATH'/],
      [{ command: '/bin/sh', args: ['-c', 'id'] }, /'\/bin\/sh' is not in \[security\] allowed_commands/],
      [{ command: 'bash' }, /allowed_commands/],
      [{ inherit_env: true }, /inherit_env/],
    ];
    for (const [patch, message] of refused) {
      const res = await gw.request('POST', '/server/add', { name: 'extra', command: 'node', args: [DEMO], ...patch });
      expect(res.status, JSON.stringify(patch)).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
      expect(res.body.error).toMatch(message);
    }
    expect(((await gw.request('GET', '/server/list')).body.servers as { name: string }[]).map((s) => s.name)).not.toContain('extra');
    // A key listed in allowed_env passes.
    const added = await gw.request('POST', '/server/add', { name: 'extra', command: 'node', args: [DEMO], env: { NODE_PATH: '/nonexistent' } });
    expect(added.status).toBe(200);
    expect((await gw.request('POST', '/server/remove', { name: 'extra' })).status).toBe(200);
  });

  it('scrubs a backend secret from error messages and /server/list', async () => {
    await gw.waitForLog((l) => l.backend === 'leaky' && /exited|failed|crash/i.test(l.msg), 10_000).catch(() => undefined);
    const call = await gw.request('POST', '/call', { server: 'leaky', tool: 'x', arguments: {} });
    expect(call.status).toBe(503);
    const list = await gw.request('GET', '/server/list');
    const text = JSON.stringify([call.body, list.body]);
    expect(text).toContain('key is [redacted]');
    expect(text).not.toContain('leaky-SENTINEL-8c2e4f6a1b3d');
  });

  it('cuts slow clients (headers, body) but not SSE streams or long calls', async () => {
    const target = new URL(gw.url);
    const closedAfter = (payload: string): Promise<{ answer: string }> =>
      new Promise((resolve) => {
        const socket = connect(Number(target.port), target.hostname, () => socket.write(payload));
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('close', () => resolve({ answer }));
        socket.on('error', () => undefined);
      });
    const headers = await closedAfter('GET /tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // Without the timeouts these sockets would stay open and the test would time out.
    expect(headers.answer).toMatch(/^HTTP\/1\.1 408/);
    const body = await closedAfter('POST /call HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"server":');
    expect(body.answer).toMatch(/^HTTP\/1\.1 408/);

    // A legacy SSE stream outlives request_body_timeout and still carries answers.
    const controller = new AbortController();
    const sse = await fetch(`${gw.url}/sse`, { signal: controller.signal });
    const reader = sse.body!.getReader();
    let received = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!received.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before '${needle}'`);
        received += new TextDecoder().decode(value);
      }
    };
    await readUntil('sessionId=');
    const sessionId = /sessionId=([\w-]+)/.exec(received)?.[1] ?? '';
    await new Promise((r) => setTimeout(r, 1_100));
    const post = await fetch(`${gw.url}/messages?sessionId=${sessionId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: INIT });
    expect(post.status).toBe(202);
    await readUntil('"protocolVersion"');
    controller.abort();
    // A call longer than request_body_timeout is answered.
    const long = await gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 1_100 } });
    expect(long.status).toBe(200);
  });
});
