import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCoord, runCoordToExit, startCoord, stopAll } from '../helpers/coord-standalone.js';
import { runCli } from '../helpers/run-cli.js';

// Issue #21, item 12: the seed's own clients (stonemux-reference.txt) work
// unchanged against `stonegate coord`. Before: its routes lived only under
// /coord, so the seed's /agent/register, /health and /stats were plain-text
// 404s and `stonegate doctor` called it "not stonegate"; the seed's config
// file was refused for [events]; `--opt bogus_key=1` logged raw zod JSON.

const dir = mkdtempSync(join(tmpdir(), 'issue-21-seed-'));
let coord: RunningCoord;

/** A request to the standalone server at `path` (the root, not /coord). */
async function root(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; type: string; body: Record<string, unknown> }> {
  const res = await fetch(`${coord.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: parsed };
}

/** The stonemux-reference.txt config file ("4. Configuration"), as its users have it; only port and data_dir point at the test. */
function seedConfig(coordination = ''): string {
  const text = `[server]
host = "127.0.0.1"
port = 3392
data_dir = "${join(dir, 'seed-data')}"

[license]
key_file = "~/.stonemux/license.key"
license_server = "https://license.keystoneproject.dev"

[coordination]
max_message_size = 65536      # Maximum message content size (bytes)
poll_timeout_max = 120        # Maximum long-poll timeout (seconds)
task_claim_timeout = 300      # Seconds before unclaimed task is re-available
heartbeat_interval = 60       # Agent heartbeat interval (seconds)
stale_threshold = 300         # Seconds without heartbeat before agent marked stale
${coordination}
[events]
sse_keepalive = 15            # SSE keepalive interval (seconds)
max_event_buffer = 1000       # Maximum buffered events per stream

[logging]
level = "info"
format = "json"
`;
  return text;
}

beforeAll(async () => {
  coord = await startCoord(join(dir, 'coord.db'));
});
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('issue 21.12: the seed paths at the root of the standalone server', () => {
  it("runs the seed's quick start at the root paths, sharing the store with /coord", async () => {
    expect((await root('POST', '/agent/register', { agent_id: 'researcher', role: 'research', capabilities: ['web-search'], channel: 'default' })).status).toBe(
      200,
    );
    expect((await root('POST', '/agent/register', { agent_id: 'writer', role: 'writing', capabilities: ['content-creation'] })).status).toBe(200);
    expect((await root('POST', '/msg/send', { from: 'researcher', to: 'writer', content: 'Analysis complete.' })).status).toBe(200);
    const poll = await root('GET', '/msg/poll?agent_id=writer&timeout=5');
    expect(poll.body.messages).toMatchObject([{ from: 'researcher', to: 'writer', content: 'Analysis complete.' }]);
    const posted = await root('POST', '/task/post', { description: 'Draft', posted_by: 'researcher', required_capability: 'content-creation', priority: 5 });
    expect(posted.status).toBe(200);
    const claimed = await root('POST', '/task/claim', { agent_id: 'writer' });
    expect(claimed.body.task).toMatchObject({ id: posted.body.id, claimed_by: 'writer' });
    const done = await root('POST', '/task/complete', { task_id: posted.body.id, agent_id: 'writer', result: 'Drafted.' });
    expect(done.body).toMatchObject({ status: 'complete' });
    // The same store under /coord.
    expect((await coord.get('/stats')).body).toMatchObject({ agents: { total: 2 }, messages: { total: 1 } });
    expect((await root('GET', '/stats')).body).toMatchObject({ agents: { total: 2 }, messages: { total: 1 } });
    expect((await root('GET', '/agent/discover')).body.agents).toHaveLength(2);
  });

  it('refuses the same mistake the same way at the root and under /coord', async () => {
    const atRoot = await root('POST', '/msg/send', { from: 'researcher', to: 'writer', content: 'x', chanel: 'ops' });
    const underCoord = await coord.post('/msg/send', { from: 'researcher', to: 'writer', content: 'x', chanel: 'ops' });
    expect(atRoot.status).toBe(400);
    expect(atRoot.body).toEqual(underCoord.body);
    expect(atRoot.body.code).toBe('BAD_REQUEST');
  });

  it("answers the seed's /health shape at the root and leaves /coord/health as it was", async () => {
    const seed = await root('GET', '/health');
    expect(seed.status).toBe(200);
    expect(seed.body).toMatchObject({ status: 'ok', version: expect.any(String), tier: 'enterprise', uptime: expect.any(Number), name: 'stonegate-coord' });
    const ours = await coord.get('/health');
    expect(ours.body).toMatchObject({ status: 'ok', store: 'sqlite', uptime_seconds: expect.any(Number) });
    expect(ours.body.tier).toBeUndefined();
  });

  it('answers an unknown route with a JSON NOT_FOUND at the root and under /coord, never plain text', async () => {
    for (const path of ['/nope', '/agent/registr', '/coord/nope']) {
      const res = await root('GET', path);
      expect(res.status).toBe(404);
      expect(res.type).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ code: 'NOT_FOUND', error: expect.stringContaining(path) });
    }
  });

  it('keeps /mcp and GET / as they were', async () => {
    expect((await root('GET', '/')).body).toMatchObject({ name: 'stonegate-coord', mcp: '/mcp', rest: '/coord' });
    // GET /mcp without a session: the MCP endpoint's own answer, not the REST 404.
    const mcp = await root('GET', '/mcp');
    expect(mcp.status).toBe(400);
    expect(mcp.body).toMatchObject({ jsonrpc: '2.0' });
  });

  it('refuses a foreign Host or Origin at the root paths and under /coord (DNS rebinding), as /mcp does', async () => {
    const { port } = new URL(coord.url);
    const statusOf = (path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.once('error', reject);
        req.end();
      });
    for (const path of ['/stats', '/coord/stats']) {
      const host = await statusOf(path, { host: 'evil.example' });
      expect(host.status).toBe(403);
      expect(JSON.parse(host.body)).toMatchObject({ code: 'FORBIDDEN' });
      expect((await statusOf(path, { host: `127.0.0.1:${port}`, origin: 'http://evil.example' })).status).toBe(403);
      expect((await statusOf(path, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
      // The gateway's loopback rule (kit/loopback.ts): spellings the URL parser would turn into 127.0.0.1 are names, and refused.
      expect((await statusOf(path, { host: `127.1:${port}` })).status).toBe(403);
      expect((await statusOf(path, { host: `2130706433:${port}` })).status).toBe(403);
      expect((await statusOf(path, { host: `127.0.0.1:${port}`, origin: 'http://0x7f.1' })).status).toBe(403);
      expect((await statusOf(path, { host: `dev.localhost:${port}`, origin: `http://[::1]:${port}` })).status).toBe(200);
    }
  });

  it('stonegate doctor --url checks a standalone coordination server (with or without /coord)', async () => {
    for (const url of [coord.url, `${coord.url}/coord`]) {
      const run = await runCli(['doctor', '--url', url], { cwd: dir });
      expect(run.stdout).toMatch(/^ok\s+\/health\s+coord server .*: ok, store sqlite/m);
      expect(run.stdout).toMatch(/^ok\s+tools\/list\s+\d+ mux_\* tools/m);
      expect(run.stdout).toMatch(/^ok\s+GET \/stats\s+answers/m);
      expect(run.stdout).not.toMatch(/is not stonegate/);
      expect(run.code).toBe(0);
    }
  });
});

describe('issue 21.12: --opt and config mistakes are one sentence', () => {
  it('--opt with an unknown key names it, the nearest key and the valid keys, not zod JSON', async () => {
    for (const [opt, expected] of [
      ['bogus_key=1', /^--opt: unknown \[coordination\] key 'bogus_key'; the keys are max_message_size, .*claim_admins/],
      ['max_mesage_size=5', /^--opt: unknown \[coordination\] key 'max_mesage_size' \(did you mean 'max_message_size'\?\); the keys are /],
      ['max_message_size=abc', /^--opt: 'max_message_size' must be a number, got the string 'abc'$/],
    ] as const) {
      const { code, stderr } = await runCoordToExit(['--port', '0', '--db', ':memory:', '--opt', opt], { cli: true });
      expect(code).toBe(2);
      const lines = stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      const msg = (JSON.parse(lines[0] ?? '{}') as { msg: string }).msg;
      expect(msg).toMatch(expected);
      expect(msg).not.toMatch(/"code"|unrecognized_keys|\[\n/);
    }
  });

  it("stonegate coord -c takes the seed's own config file: translates [events], ignores [license], logs each", async () => {
    const file = join(dir, 'stonemux.toml');
    writeFileSync(file, seedConfig().replace('max_message_size = 65536', 'max_message_size = 10'));
    const seeded = await startCoord(undefined, ['-c', file], { cli: true });
    const messages = seeded.stderr.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'seed config: [events] sse_keepalive → [coordination] sse_keepalive',
        'seed config: [events] max_event_buffer → [coordination] max_event_buffer',
        `seed config: [server] data_dir → --db ${join(dir, 'seed-data', 'coord.db')}`,
        expect.stringMatching(/^seed config: \[license\] ignored: stonegate needs no license key/),
      ]),
    );
    // [coordination] from the file applies: a 10-byte limit.
    await seeded.post('/agent/register', { agent_id: 'a', role: 'r' });
    const send = await seeded.post('/msg/send', { from: 'a', to: 'a', content: 'more than ten bytes' });
    expect(send).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
    // data_dir of the seed's [server] holds the store.
    expect(readFileSync(join(dir, 'seed-data', 'coord.db')).length).toBeGreaterThan(0);
    await seeded.stop();
  });

  it('refuses a seed config key that does not map, naming the key to use', async () => {
    const file = join(dir, 'typo.toml');
    writeFileSync(file, seedConfig().replace('sse_keepalive = 15', 'sse_keepalif = 15'));
    const run = await runCli(['coord', '-c', file, '--port', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toMatch(/typo\.toml: events\.sse_keepalif: unknown key \(did you mean 'sse_keepalive'\?\); the \[coordination\] keys are /);
  });

  it('a stonegate.toml with [events] is refused naming [coordination]', async () => {
    const file = join(dir, 'stonegate.toml');
    writeFileSync(file, '[events]\nsse_keepalive = 15\n\n[[backends]]\nname = "x"\ncommand = "node"\n');
    const run = await runCli(['check', '-c', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /unknown key 'events': the seed's \[events\] keys \(sse_keepalive, max_event_buffer\) are \[coordination\] keys here: move them to \[coordination\]/,
    );
  });
});
