import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO, demoBackend, eventually, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

// Issue #28 item 1 and 3: live reload of stonegate.toml, and what bad input does to it.

afterEach(stopAll);

const NO_COORD = '\n[coordination]\nenabled = false\n';
const configOf = (gw: RunningGateway): string => join(gw.dir, 'stonegate.toml');

/** Writes the file as an editor does: a new file renamed over the old one. */
function save(gw: RunningGateway, toml: string): void {
  const temp = `${configOf(gw)}.tmp`;
  writeFileSync(temp, `${toml}${NO_COORD}`);
  renameSync(temp, configOf(gw));
}

interface ReloadStatus {
  status: string;
  revision?: string;
  error?: string;
  trigger?: string;
  at: string;
  backends?: Record<string, unknown>;
  needs_restart?: string[];
}

/** Waits for the first reload logged after the gateway's `mark`-th log line, and returns GET /config's account of it. */
async function nextReload(gw: RunningGateway, mark: number, token?: string): Promise<ReloadStatus> {
  const line = await gw.waitForLog((l) => (l.msg === 'config reloaded' || l.msg.startsWith('config reload refused')) && gw.logs.indexOf(l) >= mark);
  expect(line).toBeDefined();
  const answer = await fetch(`${gw.url}/config`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return ((await answer.json()) as { reload: ReloadStatus }).reload;
}

const pidOf = async (gw: RunningGateway, name: string): Promise<number | null> => (await serverRow(gw, name)).pid;

async function running(gw: RunningGateway, name: string): Promise<void> {
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
}

describe('hot reload of the config file (#28)', () => {
  it('adds, changes and removes backends on a save; the others keep their process; an MCP session hears list_changed', async () => {
    const gw = await startGateway(`${demoBackend('keep')}\n${demoBackend('change')}\n${demoBackend('gone')}`);
    await Promise.all(['keep', 'change', 'gone'].map((n) => running(gw, n)));
    const keepPid = await pidOf(gw, 'keep');
    const changePid = await pidOf(gw, 'change');
    const client = new Client({ name: 'reload-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('fresh__echo');
    const changed = new Promise<void>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));

    const before = gw.logs.length;
    save(gw, `${demoBackend('keep')}\n${demoBackend('change')}\nenv = { MARK = "2" }\n${demoBackend('fresh')}`);
    const status = await nextReload(gw, before);
    expect(status).toMatchObject({ status: 'ok', trigger: 'file' });
    expect(status.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(status.backends).toEqual({ added: ['fresh'], removed: ['gone'], restarted: ['change'], updated: [], unchanged: 1 });
    await changed;
    await running(gw, 'fresh');
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('fresh__echo');
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('gone__echo');
    expect(await pidOf(gw, 'keep')).toBe(keepPid);
    expect(await pidOf(gw, 'change')).not.toBe(changePid);
    expect((await gw.request('GET', '/server/list')).body.servers).toHaveLength(3);
    const health = (await gw.request('GET', '/health')).body;
    expect(health.checks).toMatchObject({ reload: { status: 'ok' } });
    expect(health.reload).toMatchObject({ status: 'ok', revision: status.revision });
    await client.close();
  });

  it('applies a timeout-only change in place (same process) and reports [server] changes as needing a restart', async () => {
    const gw = await startGateway(demoBackend('one'));
    await running(gw, 'one');
    const pid = await pidOf(gw, 'one');
    const before = gw.logs.length;
    save(gw, `[server]\nheaders_timeout = 12345\n[logging]\nlevel = "debug"\n${demoBackend('one')}\ntimeout = 1234`);
    const status = await nextReload(gw, before);
    expect(status.backends).toMatchObject({ updated: ['one'], restarted: [] });
    expect(status.needs_restart).toEqual(['server.headers_timeout']);
    // The log level applies live, to every child logger too.
    expect(gw.logs.slice(before).some((l) => l.level === 20 && l.msg === 'backends reloaded')).toBe(true);
    expect(await pidOf(gw, 'one')).toBe(pid);
    const config = (await gw.request('GET', '/config')).body as { backends: { name: string; timeout: number }[]; server: Record<string, unknown> };
    expect(config.backends.find((b) => b.name === 'one')?.timeout).toBe(1234);
  });

  it('applies [gateway] session caps live: a lowered max_sessions_per_client refuses the next session, open ones stay', async () => {
    const gw = await startGateway(demoBackend('one'));
    await running(gw, 'one');
    const first = new Client({ name: 'first', version: '1' });
    await first.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const mark = gw.logs.length;
    save(gw, `[gateway]\nmax_sessions_per_client = 1\n${demoBackend('one')}`);
    const status = await nextReload(gw, mark);
    expect(status.needs_restart).toEqual([]);
    const second = new Client({ name: 'second', version: '1' });
    await expect(second.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)))).rejects.toThrow(/max_sessions_per_client/);
    expect((await first.listTools()).tools.map((t) => t.name)).toContain('one__echo');
    await first.close();
  });

  it('refuses garbage, a truncated file, a deleted and an unreadable one: the old configuration serves, /health and /config tell', async () => {
    const toml = demoBackend('one');
    const gw = await startGateway(toml);
    await running(gw, 'one');
    const pid = await pidOf(gw, 'one');
    const first = ((await gw.request('GET', '/config')).body.reload as ReloadStatus).revision;
    const bad: [string, () => void][] = [
      ['garbage', () => save(gw, '\u0000\u0001 not = [toml')],
      ['truncated', () => writeFileSync(configOf(gw), toml.slice(0, toml.length - 12))],
      ['deleted', () => rmSync(configOf(gw))],
      ['a directory', () => mkdirSync(configOf(gw))],
    ];
    for (const [what, breakIt] of bad) {
      const before = gw.logs.length;
      breakIt();
      const status = await nextReload(gw, before);
      expect(status.status, what).toBe('error');
      expect(status.error, what).toContain('stonegate.toml');
      expect(status.revision, what).toBe(first);
      const health = await gw.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.checks).toMatchObject({ reload: { status: 'degraded' } });
      expect(health.body.reload).toMatchObject({ status: 'error' });
      expect((await gw.request('POST', '/call', { server: 'one', tool: 'echo', arguments: { text: 'still' } })).status).toBe(200);
      expect(await pidOf(gw, 'one')).toBe(pid);
      if (what === 'a directory') rmSync(configOf(gw), { recursive: true });
    }
    if (process.getuid?.() !== 0) {
      save(gw, toml);
      chmodSync(configOf(gw), 0o000);
      const answer = await gw.request('POST', '/config/reload', {});
      expect(answer.status).toBe(422);
      expect(answer.body.status).toBe('error');
    }
    const before = gw.logs.length;
    save(gw, `${toml}\ntimeout = 999`);
    expect((await nextReload(gw, before)).status).toBe('ok');
    expect((await gw.request('GET', '/health')).body.status).toBe('ok');
    expect(await pidOf(gw, 'one')).toBe(pid);
  });

  it('reloads on SIGHUP and on `stonegate reload`, and a storm of 100 SIGHUPs leaves it serving', async () => {
    const gw = await startGateway(demoBackend('one'));
    await running(gw, 'one');
    const pid = await pidOf(gw, 'one');
    gw.proc.kill('SIGHUP');
    await gw.waitForLog((l) => l.msg === 'config reloaded' && l.trigger === 'signal');
    const cli = await runCli(['reload', '--url', gw.url]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^reloaded revision [0-9a-f]{16}: added -; removed -; restarted -; updated -/);
    expect(((await gw.request('GET', '/config')).body.reload as ReloadStatus).trigger).toBe('api');
    for (let i = 0; i < 100; i += 1) gw.proc.kill('SIGHUP');
    const after = await gw.request('POST', '/config/reload', {});
    expect(after.status).toBe(200);
    expect(after.body.status).toBe('ok');
    expect((await gw.request('POST', '/call', { server: 'one', tool: 'echo', arguments: { text: 'x' } })).status).toBe(200);
    expect(await pidOf(gw, 'one')).toBe(pid);
    const runs = gw.logs.filter((l) => l.msg === 'config reloaded' && l.trigger === 'signal').length;
    // Triggers during a reload fold into one more run.
    expect(runs).toBeLessThan(100);
    save(gw, '[[backends]]\nname = "one"\ncommand = "node"\nargs = [');
    const refused = await runCli(['reload', '--url', gw.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('stonegate.toml');
  });

  it('applies [auth] tokens live: a removed token is refused on its next request, a narrowed one on its next call elsewhere', async () => {
    const tokens = (bot: string): string =>
      `[[auth.tokens]]\nname = "root"\nrole = "admin"\ntoken = "\${ROOT_TOKEN}"\n${bot}${demoBackend('one')}\n${demoBackend('two')}`;
    const bot = (servers: string): string => `[[auth.tokens]]\nname = "bot"\nrole = "agent"\ntoken = "\${BOT_TOKEN}"\nservers = ${servers}\n`;
    const env = { ROOT_TOKEN: 'root-token-0123456789', BOT_TOKEN: 'bot-token-0123456789' };
    const gw = await startGateway(tokens(bot('["one", "two"]')), { env });
    await Promise.all([running(gw, 'one'), running(gw, 'two')]);
    const call = async (token: string, server: string): Promise<number> =>
      (
        await fetch(`${gw.url}/call`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ server, tool: 'echo', arguments: { text: 'x' } }),
        })
      ).status;
    expect(await call(env.BOT_TOKEN, 'two')).toBe(200);
    let mark = gw.logs.length;
    save(gw, tokens(bot('["one"]')));
    expect((await nextReload(gw, mark, env.ROOT_TOKEN)).status).toBe('ok');
    expect(await call(env.BOT_TOKEN, 'one')).toBe(200);
    expect(await call(env.BOT_TOKEN, 'two')).toBe(403);
    mark = gw.logs.length;
    save(gw, tokens(''));
    expect((await nextReload(gw, mark, env.ROOT_TOKEN)).status).toBe('ok');
    expect(await call(env.BOT_TOKEN, 'one')).toBe(401);
    expect(await call(env.ROOT_TOKEN, 'two')).toBe(200);
  });

  it("a 2026-07-28 client's listen stream hears tools list_changed when a reload adds a backend, and lists its tools", async () => {
    const gw = await startGateway(demoBackend('one'));
    await running(gw, 'one');
    const client = new Client({ name: 'listener', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    const heard = new Promise<void>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));
    const subscription = await client.listen({ toolsListChanged: true });
    save(gw, `${demoBackend('one')}\n${demoBackend('two')}`);
    await heard;
    await running(gw, 'two');
    expect((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name)).toContain('two__echo');
    await subscription.close();
    await client.close();
  });

  it('keeps a runtime-added backend unless the file names it (the file wins); an API stop holds until the entry changes', async () => {
    const gw = await startGateway(`${demoBackend('one')}\n${demoBackend('stopped')}`);
    await Promise.all([running(gw, 'one'), running(gw, 'stopped')]);
    expect((await gw.request('POST', '/server/add', { name: 'extra', command: 'node', args: [DEMO] })).status).toBe(200);
    expect((await gw.request('POST', '/server/add', { name: 'later', command: 'node', args: [DEMO] })).status).toBe(200);
    expect((await gw.request('POST', '/server/stop', { name: 'stopped' })).status).toBe(200);
    let mark = gw.logs.length;
    save(gw, `${demoBackend('one')}\ntimeout = 4321\n${demoBackend('stopped')}\n${demoBackend('later')}\nenv = { FROM = "file" }`);
    const status = await nextReload(gw, mark);
    expect(status.backends).toMatchObject({ added: ['later'], updated: ['one'] });
    const origin = async (name: string): Promise<string | undefined> =>
      ((await gw.request('GET', '/config')).body.backends as { name: string; origin: string }[]).find((b) => b.name === name)?.origin;
    expect(await origin('extra')).toBe('runtime');
    expect(await origin('later')).toBe('file');
    expect(gw.logs.some((l) => l.backend === 'later' && l.msg.includes('the file wins'))).toBe(true);
    expect((await serverRow(gw, 'stopped')).status).toBe('stopped');
    mark = gw.logs.length;
    save(gw, `${demoBackend('one')}\ntimeout = 4321\n${demoBackend('stopped')}\nenv = { V = "2" }\n${demoBackend('later')}\nenv = { FROM = "file" }`);
    expect((await nextReload(gw, mark)).backends).toMatchObject({ restarted: ['stopped'] });
    await running(gw, 'stopped');
    expect((await serverRow(gw, 'stopped')).status).toBe('running');
  });

  it('follows a Kubernetes ConfigMap swap: the file is a link through ..data, and the ..data link is replaced', async () => {
    const gw = await startGateway(demoBackend('one'));
    await running(gw, 'one');
    const version = (n: number, toml: string): void => {
      mkdirSync(join(gw.dir, `..v${n}`));
      writeFileSync(join(gw.dir, `..v${n}`, 'stonegate.toml'), `${toml}${NO_COORD}`);
      symlinkSync(`..v${n}`, join(gw.dir, '..data_tmp'));
      renameSync(join(gw.dir, '..data_tmp'), join(gw.dir, '..data'));
    };
    version(1, demoBackend('one'));
    symlinkSync('..data/stonegate.toml', `${configOf(gw)}.link`);
    renameSync(`${configOf(gw)}.link`, configOf(gw));
    const mark = gw.logs.length;
    version(2, `${demoBackend('one')}\n${demoBackend('two')}`);
    const status = await nextReload(gw, mark);
    expect(status).toMatchObject({ status: 'ok', trigger: 'file', backends: { added: ['two'] } });
  });

  it('calls still running when drain_timeout ends are cut with BACKEND_UNAVAILABLE (cut_by remove); none hangs', async () => {
    const head = '[supervisor]\ndrain_timeout = 200\n';
    const gw = await startGateway(`${head}${demoBackend('slow')}\n${demoBackend('other')}`);
    await Promise.all([running(gw, 'slow'), running(gw, 'other')]);
    const calls = Array.from({ length: 50 }, () => gw.request('POST', '/call', { server: 'slow', tool: 'sleep', arguments: { ms: 60_000 } }));
    const inflight = async (): Promise<number> =>
      ((await gw.request('GET', '/server/list')).body.servers as { name: string; pool: { inflight: number } }[]).find((s) => s.name === 'slow')?.pool
        .inflight ?? 0;
    await eventually(async () => (await inflight()) === 50);
    const mark = gw.logs.length;
    save(gw, `${head}${demoBackend('other')}`);
    const results = await Promise.all(calls);
    expect((await nextReload(gw, mark)).backends).toMatchObject({ removed: ['slow'], unchanged: 1 });
    for (const r of results) expect(r.body).toMatchObject({ code: 'BACKEND_UNAVAILABLE', cut_by: 'remove' });
  });

  it('50 calls in flight across a reload that removes their backend all settle: done, or the documented error', async () => {
    const gw = await startGateway(`${demoBackend('slow')}\n${demoBackend('other')}`);
    await Promise.all([running(gw, 'slow'), running(gw, 'other')]);
    const calls = Array.from({ length: 50 }, () => gw.request('POST', '/call', { server: 'slow', tool: 'sleep', arguments: { ms: 3000 } }));
    const inflight = async (): Promise<number> =>
      ((await gw.request('GET', '/server/list')).body.servers as { name: string; pool: { inflight: number } }[]).find((s) => s.name === 'slow')?.pool
        .inflight ?? 0;
    await eventually(async () => (await inflight()) === 50);
    const before = gw.logs.length;
    save(gw, demoBackend('other'));
    const results = await Promise.all(calls);
    const status = await nextReload(gw, before);
    expect(status.backends).toMatchObject({ removed: ['slow'] });
    for (const r of results) {
      if (r.status === 200) expect((r.body.result as { content: { text: string }[] }).content[0]?.text).toBe('slept 3000 ms');
      else expect(['BACKEND_UNAVAILABLE', 'UNKNOWN_SERVER']).toContain(r.body.code);
    }
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect((await gw.request('POST', '/call', { server: 'slow', tool: 'echo', arguments: { text: 'x' } })).body.code).toBe('UNKNOWN_SERVER');
  });
});
