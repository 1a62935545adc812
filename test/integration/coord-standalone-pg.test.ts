import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../backends/coord/migrations.js';
import { openPgStore } from '../../backends/coord/pg-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { coordResult } from '../helpers/coord-harness.js';
import { type RunningCoord, runCoordToExit, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { report } from '../helpers/coord-store.js';
import { BIN, q, type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';
import { createTestDatabase, describePg } from '../helpers/pg.js';

/*
 * `stonegate coord --db postgres://…`: the standalone coordination server on
 * PostgreSQL, sharing its data (and its long-poll wake-ups) with the gateways
 * and other servers on the same database. Runs the compiled server (build first).
 */

const PASSWORD = 's3cret-pw';
const dropped: Array<() => Promise<void>> = [];
const probes: CoordStore[] = [];
afterEach(async () => {
  await stopCoords();
  await stopGateways();
  await Promise.all(probes.splice(0).map((s) => s.close()));
  for (const drop of dropped.splice(0)) await drop();
});

/** A fresh database, with a password in its URL (the test cluster trusts loopback and ignores it): logs must never show it. */
async function database(): Promise<string> {
  const { url, drop } = await createTestDatabase('coordpg');
  dropped.push(drop);
  const withPassword = new URL(url);
  withPassword.password = PASSWORD;
  return withPassword.toString();
}

/**
 * A coordination store in this process on the same database whose long
 * polls never re-read on their own: only a NOTIFY sent at another process's
 * commit can end its wait before the timeout.
 */
async function probe(url: string): Promise<CoordStore> {
  const store = await openPgStore({ url, max: 2 }, {}, { recheckMs: 600_000 });
  probes.push(store);
  return store;
}

async function ok(answer: Promise<{ status: number; body: Record<string, unknown> }>): Promise<Record<string, unknown>> {
  const { status, body } = await answer;
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/** The gateway's coordination routes, in the shape of a standalone server's (post/get under /coord). */
function viaGateway(gw: RunningGateway): Pick<RunningCoord, 'post' | 'get'> {
  return {
    post: (path, body) => gw.request('POST', `/coord${path}`, body),
    get: (path) => gw.request('GET', `/coord${path}`),
  };
}

type Coord = Pick<RunningCoord, 'post' | 'get'>;

/** Parks a long poll for `to` on `waiter`, then sends through `sender`; resolves with what the poll got and how long it waited after the send. */
async function wakeAcross(waiter: Coord, sender: Coord, from: string, to: string, content: string): Promise<{ contents: string[]; afterSendMs: number }> {
  const parked = waiter.get(`/msg/poll?agent_id=${to}&timeout=30`);
  // Give the poll time to park (if it has not, it finds the message at once: the test still holds).
  await new Promise((resolve) => setTimeout(resolve, 200));
  await ok(sender.post('/msg/send', { from, to, content }));
  const sentAt = Date.now();
  const { body } = await parked;
  return { contents: (body.messages as Array<{ content: string }>).map((m) => m.content), afterSendMs: Date.now() - sentAt };
}

describePg('standalone coordination server on PostgreSQL', () => {
  it('serves agents, messages, tasks and state from the database, and finds them again after a restart', async () => {
    const url = await database();
    let coord = await startCoord(url, ['--pool-size', '3'], { cli: true });
    expect((await ok(coord.get('/health'))).store).toBe('postgres');
    await ok(coord.post('/agent/register', { agent_id: 'lead', role: 'lead' }));
    await ok(coord.post('/agent/register', { agent_id: 'worker', role: 'build', capabilities: ['build'] }));
    const sent = await ok(coord.post('/msg/send', { from: 'lead', to: 'worker', content: 'start the build' }));
    const polled = await ok(coord.get('/msg/poll?agent_id=worker&timeout=5'));
    expect(polled.messages).toMatchObject([{ id: sent.id, from: 'lead', content: 'start the build' }]);
    const task = await ok(coord.post('/task/post', { description: 'build it', posted_by: 'lead', required_capability: 'build' }));
    const claim = await ok(coord.post('/task/claim', { agent_id: 'worker' }));
    expect(claim.task).toMatchObject({ id: task.id });
    expect(await ok(coord.post('/task/complete', { task_id: task.id, agent_id: 'worker', result: 'built' }))).toMatchObject({ status: 'complete' });
    await ok(coord.post('/state/set', { key: 'release', value: { version: 3 }, updated_by: 'lead' }));
    expect(await coord.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    // Same database, a new process (the server itself this time, not the CLI).
    coord = await startCoord(url);
    const agents = (await ok(coord.get('/agent/discover?include_stale=true'))).agents as Array<{ id: string }>;
    expect(agents.map((a) => a.id).sort()).toEqual(['lead', 'worker']);
    expect((await ok(coord.get('/msg/poll?agent_id=worker&after=0'))).messages).toMatchObject([{ id: sent.id, content: 'start the build' }]);
    expect((await ok(coord.get('/task/list?status=complete'))).tasks).toMatchObject([{ id: task.id, claimed_by: 'worker', result: 'built' }]);
    expect(await ok(coord.get('/state/get?key=release'))).toMatchObject({ value: { version: 3 }, version: 1 });
    expect(await coord.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(coord.stderr.join('\n')).not.toContain(PASSWORD);
  });

  it('shares everything with a gateway on the same database, long-poll wake-ups included', async () => {
    const url = await database();
    const gw = await startGateway(`[store]\nurl = ${q(url)}\n\n[coordination]\nenabled = true\n`);
    // `stonegate coord -c` with the gateway's own config: its [store] url, no --db.
    const coord = await startCoord(undefined, ['-c', join(gw.dir, 'stonegate.toml')], { cli: true });
    const gateway = viaGateway(gw);
    expect((await ok(coord.get('/health'))).store).toBe('postgres');

    await ok(coord.post('/agent/register', { agent_id: 'alone', role: 'r', capabilities: ['build'] }));
    await ok(gateway.post('/agent/register', { agent_id: 'behind-gw', role: 'r' }));
    const seen = (await ok(gateway.get('/agent/discover'))).agents as Array<{ id: string }>;
    expect(seen.map((a) => a.id).sort()).toEqual(['alone', 'behind-gw']);

    // Parked on one, sent through the other: in both directions.
    const toAlone = await wakeAcross(coord, gateway, 'behind-gw', 'alone', 'from the gateway');
    expect(toAlone.contents).toEqual(['from the gateway']);
    const toGateway = await wakeAcross(gateway, coord, 'alone', 'behind-gw', 'from the standalone server');
    expect(toGateway.contents).toEqual(['from the standalone server']);
    report(
      `coord-standalone-pg: long poll woken ${toAlone.afterSendMs} ms (standalone) and ${toGateway.afterSendMs} ms (gateway) after the send through the other`,
    );

    // A task posted through the gateway is claimed and completed through the standalone server.
    const task = await ok(gateway.post('/task/post', { description: 'shared job', posted_by: 'behind-gw', required_capability: 'build' }));
    expect((await ok(coord.post('/task/claim', { agent_id: 'alone' }))).task).toMatchObject({ id: task.id });
    await ok(coord.post('/task/complete', { task_id: task.id, agent_id: 'alone', result: 'done alone' }));
    expect((await ok(gateway.get('/task/list?status=complete'))).tasks).toMatchObject([{ id: task.id, result: 'done alone' }]);
    await ok(coord.post('/state/set', { key: 'k', value: 'set alone' }));
    expect(await ok(gateway.get('/state/get?key=k'))).toMatchObject({ value: 'set alone' });
    expect(coord.stderr.join('\n')).not.toContain(PASSWORD);
  });

  it('migrates an empty database once when two servers start on it together', async () => {
    const url = await database();
    const [a, b] = await Promise.all([startCoord(url), startCoord(url, [], { cli: true })]);
    for (const coord of [a, b]) expect(await ok(coord.get('/health'))).toMatchObject({ store: 'postgres', schema_version: MIGRATIONS.length });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM coord_schema_version ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await client.end();
    }
    // And they share the data: registered through one, seen through the other.
    await ok(a.post('/agent/register', { agent_id: 'on-a', role: 'r' }));
    expect(((await ok(b.get('/agent/discover'))).agents as Array<{ id: string }>).map((x) => x.id)).toEqual(['on-a']);
  });

  it('notifies at commit: a poll that never re-reads on its own wakes on a send through the standalone server', async () => {
    const url = await database();
    const coord = await startCoord(url);
    const listener = await probe(url);
    await ok(coord.post('/agent/register', { agent_id: 'sender', role: 'r' }));
    await ok(coord.post('/agent/register', { agent_id: 'receiver', role: 'r' }));
    const waiting = listener.poll({ agent_id: 'receiver', timeout_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await ok(coord.post('/msg/send', { from: 'sender', to: 'receiver', content: 'heard by NOTIFY' }));
    expect((await waiting).messages).toMatchObject([{ content: 'heard by NOTIFY' }]);
  });

  it('speaks MCP on stdio with the data in PostgreSQL', async () => {
    const url = await database();
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'coord', '--stdio', '--db', url, '--pool-size', '2'], stderr: 'pipe' });
    const client = new Client({ name: 'coord-pg-stdio', version: '1.0.0' });
    await client.connect(transport);
    try {
      for (const agent_id of ['a', 'b'])
        expect(coordResult(await client.callTool({ name: 'mux_register', arguments: { agent_id, role: 'r' } })).isError).toBe(false);
      await client.callTool({ name: 'mux_send', arguments: { from: 'a', to: 'b', content: 'over stdio, into PostgreSQL' } });
    } finally {
      await client.close();
    }
    const store = await probe(url);
    expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toMatchObject([{ from: 'a', content: 'over stdio, into PostgreSQL' }]);
  });
});

describe('standalone coordination server: a database it cannot open', () => {
  it('refuses to start on an unreachable PostgreSQL with one sentence that hides the password, exit code 1', async () => {
    const { code, stderr } = await runCoordToExit(['--port', '0', '--db', `postgres://stonegate:${PASSWORD}@127.0.0.1:1/nowhere`], { cli: true });
    expect(code).toBe(1);
    expect(stderr).toMatch(/--db: could not open the PostgreSQL database at postgres:\/\/[^@]*@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED.*; check that it runs/);
    expect(stderr).not.toContain(PASSWORD);
  });

  it('says how to write the URL when it does not parse, without the password', async () => {
    const { code, stderr } = await runCoordToExit(['--stdio', '--db', `postgresql://stonegate:${PASSWORD}@db.internal:99999/coord`]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /--db: postgresql:\/\/\[redacted\]@db\.internal:99999\/coord is not a valid PostgreSQL URL; write it as postgres:\/\/user:password@host:port\/database/,
    );
    expect(stderr).not.toContain(PASSWORD);
  });

  it('takes the URL from the config [store] url (the password from the environment) and hides it as well', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coord-pg-config-'));
    try {
      writeFileSync(join(dir, 'stonegate.toml'), '[store]\nurl = "postgres://stonegate:${COORD_TEST_PG_PASSWORD}@127.0.0.1:1/from_config"\npool_size = 2\n');
      const { code, stderr } = await runCoordToExit(['--port', '0', '-c', join(dir, 'stonegate.toml')], {
        cli: true,
        env: { COORD_TEST_PG_PASSWORD: PASSWORD },
      });
      expect(code).toBe(1);
      expect(stderr).toMatch(/could not open the PostgreSQL database at postgres:\/\/[^@]*@127\.0\.0\.1:1\/from_config/);
      expect(stderr).not.toContain(PASSWORD);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --pool-size for a SQLite file (exit code 2)', async () => {
    const { code, stderr } = await runCoordToExit(['--port', '0', '--db', ':memory:', '--pool-size', '4']);
    expect(code).toBe(2);
    expect(stderr).toContain('--pool-size applies to a PostgreSQL --db');
  });
});
