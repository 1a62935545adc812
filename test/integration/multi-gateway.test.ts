import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { report } from '../helpers/coord-store.js';
import { DEMO, demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, listenerPids, useTestDatabase } from '../helpers/pg.js';
import { eventsOf, readSse } from '../helpers/sse.js';

afterAll(stopAll);

const AGENTS = 20;
const MESSAGES = 2_000;
const TASKS = 200;
const CALLS_PER_GATEWAY = 6;

/** A JSON answer, or 'down' when the gateway did not answer (killed, or died mid-request). */
type Answer = { status: number; body: Record<string, unknown> } | 'down';

async function send(gw: RunningGateway, method: string, path: string, body?: unknown): Promise<Answer> {
  try {
    return await gw.request(method, path, body);
  } catch {
    return 'down';
  }
}

/**
 * An agent that talks to its home gateway and, when that one stops
 * answering, to the other: what a load balancer does for a client whose
 * gateway died. Refusals (4xx) are answers, not failures.
 */
class Agent {
  constructor(
    readonly id: string,
    private readonly gateways: RunningGateway[],
    private home: number,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const gw = this.gateways[this.home] as RunningGateway;
      const answer = await send(gw, method, path, body);
      if (answer !== 'down' && answer.status < 500) return answer;
      this.home = (this.home + 1) % this.gateways.length;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${this.id}: no gateway answered ${method} ${path}`);
  }

  /** One attempt at the home gateway: the answer, or undefined when the gateway died under it (unacknowledged). */
  async once(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
    const answer = await send(this.gateways[this.home] as RunningGateway, method, path, body);
    if (answer === 'down' || answer.status >= 500) {
      this.home = (this.home + 1) % this.gateways.length;
      return undefined;
    }
    return answer;
  }
}

describePg('two gateways on one PostgreSQL', () => {
  const database = useTestDatabase('multi');

  it('delivers every acknowledged message once, completes every task once and loses no async result when one gateway is SIGKILLed', {
    timeout: 240_000,
  }, async () => {
    // lease: a live gateway renews its async calls' lease every third of it, and a lease that lapsed lets the
    // other gateway interrupt them. At 1 s a starved B (heavy load) missed its renewals for 700 ms and A, alive,
    // interrupted B's running calls, which must complete. 5 s still runs out long before the test waits for
    // A's calls to be interrupted (after all the messages and tasks); how long it is is not what is checked.
    const toml = `
[store]
url = ${q(database.url)}
pool_size = 8
lease = 5

[coordination]
task_claim_timeout = 2
max_event_buffer = 100000
poll_timeout_max = 5

${demoBackend()}
`;
    const t0 = Date.now();
    const phase = (what: string): void => report(`multi-gateway: ${what} at ${Date.now() - t0} ms`);
    // Both start at once: they migrate the empty database together.
    const gateways = await Promise.all([startGateway(toml), startGateway(toml)]);
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    await Promise.all(gateways.map((gw) => gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo')));
    phase('gateways ready');
    const agents = Array.from({ length: AGENTS }, (_, i) => new Agent(`agent-${i}`, gateways, i % 2));
    for (const agent of agents) expect((await agent.call('POST', '/coord/agent/register', { agent_id: agent.id, role: 'worker' })).status).toBe(200);

    // Async calls on both gateways; A's will be running when A dies.
    const calls: { id: string; on: 'a' | 'b' }[] = [];
    for (const [gw, on] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      for (let i = 0; i < CALLS_PER_GATEWAY; i++) {
        const submitted = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: on === 'a' ? 60_000 : 1_500 } });
        expect(submitted.status).toBe(202);
        calls.push({ id: submitted.body.call_id as string, on });
      }
    }

    phase('agents registered, async calls submitted');
    // Pollers: at-least-once polls (after = the last id handled), each id recorded as received.
    const received = new Map<string, number[]>(agents.map((x) => [x.id, []]));
    let sendingDone = false;
    const pollers = agents.map(async (agent) => {
      let after = 0;
      for (;;) {
        const page = await agent.call('GET', `/coord/msg/poll?agent_id=${agent.id}&after=${after}&timeout=1`);
        expect(page.status).toBe(200);
        const messages = page.body.messages as { id: number }[];
        for (const m of messages) (received.get(agent.id) as number[]).push(m.id);
        after = page.body.next_cursor as number;
        if (messages.length === 0 && sendingDone) return;
      }
    });

    // Tasks: posted up front, before A can die, then claimed and completed by every agent while messages flow. (Posted
    // while the senders ran, a post that A committed and died before answering was posted again through B: 201 tasks,
    // and the workers waited for 200 complete forever: a retried post whose first answer was lost may post twice.)
    for (let t = 0; t < TASKS; t++) {
      const poster = agents[t % AGENTS] as Agent;
      expect((await poster.call('POST', '/coord/task/post', { description: `task ${t}`, posted_by: poster.id })).status).toBe(200);
    }
    phase('tasks posted');

    // Senders: 100 messages each, to the other agents in turn; A is killed once half are acknowledged.
    const acknowledged: { to: string; id: number }[] = [];
    const attempted = new Map<string, number>();
    let killed: Promise<unknown> | undefined;
    const started = Date.now();
    const senders = agents.map(async (agent, i) => {
      for (let n = 0; n < MESSAGES / AGENTS; n++) {
        const to = `agent-${(i + 1 + (n % (AGENTS - 1))) % AGENTS}`;
        attempted.set(to, (attempted.get(to) ?? 0) + 1);
        const answer = await agent.once('POST', '/coord/msg/send', { from: agent.id, to, content: `${agent.id}#${n}` });
        if (answer !== undefined) {
          expect(answer.status).toBe(200);
          acknowledged.push({ to, id: answer.body.id as number });
        }
        if (acknowledged.length >= MESSAGES / 2 && killed === undefined) killed = a.stop('SIGKILL');
      }
    });

    const completedBy = new Map<string, string>();
    // A bound with a diagnosis: this test once waited out its whole timeout here with the tasks never all complete
    // (reason unknown); past the bound it fails naming every task that is not complete and its state.
    const workersUntil = Date.now() + 150_000;
    const unfinished = async (): Promise<string> => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const left = await client.query("SELECT id, status, claimed_by, epoch, lease_expires_at FROM tasks WHERE status <> 'complete' ORDER BY seq");
        return JSON.stringify({ now: Date.now(), tasks: left.rows });
      } finally {
        await client.end();
      }
    };
    const workers = agents.map(async (agent) => {
      for (;;) {
        if (Date.now() > workersUntil) throw new Error(`tasks still not all complete after 150 s: ${await unfinished()}`);
        const claim = await agent.call('POST', '/coord/task/claim', { agent_id: agent.id });
        const task = claim.body.task as { id: string; epoch: number } | null;
        if (task === null) {
          const stats = await agent.call('GET', '/coord/stats');
          const counts = stats.body.tasks as Record<string, number>;
          if (counts.complete === TASKS) return;
          await new Promise((resolve) => setTimeout(resolve, 100)); // a lapsed claim comes back after task_claim_timeout
          continue;
        }
        const done = await agent.call('POST', '/coord/task/complete', { task_id: task.id, agent_id: agent.id, epoch: task.epoch, result: agent.id });
        if (done.status === 200) {
          expect(completedBy.has(task.id), `task ${task.id} acknowledged as completed twice`).toBe(false);
          completedBy.set(task.id, agent.id);
        } else {
          // The gateway died after committing the completion (retried: already complete) or the lease lapsed meanwhile.
          expect(done.status).toBe(409);
        }
      }
    });

    await Promise.all(senders);
    report(`multi-gateway: ${acknowledged.length} of ${MESSAGES} sends acknowledged in ${Date.now() - started} ms (A killed after ${MESSAGES / 2})`);
    sendingDone = true;
    await Promise.all(pollers);
    report(`multi-gateway: pollers done after ${Date.now() - started} ms`);
    await Promise.all(workers);
    report(`multi-gateway: ${TASKS} tasks complete after ${Date.now() - started} ms (${completedBy.size} completions acknowledged)`);
    await killed;
    expect(killed, 'gateway A was killed midway').toBeDefined();

    // Every acknowledged message reached its recipient exactly once; nothing arrived twice or unsent.
    expect(acknowledged.length).toBeGreaterThan(MESSAGES * 0.9);
    for (const { to, id } of acknowledged)
      expect(
        (received.get(to) as number[]).filter((x) => x === id),
        `message ${id} to ${to}`,
      ).toHaveLength(1);
    for (const [to, ids] of received) {
      expect(new Set(ids).size, `duplicates delivered to ${to}`).toBe(ids.length);
      expect(ids.length).toBeLessThanOrEqual(attempted.get(to) ?? 0);
    }

    // Every task completed exactly once (the database's events are the record).
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const tasks = await client.query<{ status: string; n: string }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status');
      expect(tasks.rows).toEqual([{ status: 'complete', n: String(TASKS) }]);
      const completions = await client.query<{ task: string; n: string }>(
        "SELECT data::jsonb->>'task_id' AS task, COUNT(*) AS n FROM events WHERE type = 'task_completed' GROUP BY 1",
      );
      expect(completions.rows).toHaveLength(TASKS);
      expect(completions.rows.every((r) => r.n === '1')).toBe(true);
    } finally {
      await client.end();
    }

    phase('messages and tasks checked');
    // No async result is lost: B's calls completed; A's, cut off by its death, are failed/INTERRUPTED once its lease ran out.
    for (const call of calls) {
      // B awaits each outcome, its own calls' and the dead A's (stored by B's lease sweep, announced by NOTIFY).
      const view = await eventually(async () => {
        const got = await b.request('GET', `/call/${call.id}?wait_ms=30000`);
        return got.status === 200 && got.body.status !== 'pending' && got.body.status !== 'running' ? got.body : undefined;
      }, 60_000);
      if (call.on === 'b') expect(view).toMatchObject({ status: 'complete' });
      else expect(view).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    }
  });

  it('answers an MCP session that reaches the wrong gateway with 404, and the client re-initializes there', async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'lb-test', version: '1' } },
    };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const opened = await fetch(`${a.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(initialize) });
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id');
    expect(session).toBeTruthy();
    await opened.text();
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    // The load balancer sent the session's next request to B, which never saw it.
    const lost = await fetch(`${b.url}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': session as string }, body: JSON.stringify(list) });
    expect(lost.status).toBe(404);
    expect(((await lost.json()) as { error: { code: number } }).error.code).toBe(-32001);
    // On A, where it lives, the session goes on.
    const kept = await fetch(`${a.url}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': session as string }, body: JSON.stringify(list) });
    expect(kept.status).toBe(200);
    await kept.text();
    // A new initialize on B (what the client does after the 404) opens a session there.
    const again = await fetch(`${b.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(initialize) });
    expect(again.status).toBe(200);
    expect(again.headers.get('mcp-session-id')).toBeTruthy();
    await again.text();
  });

  it("shows a backend added at runtime on one gateway on the other (and its calls in the other's audit log), and removes it there when the other removes it", async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = false\n`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    const added = await a.request('POST', '/server/add', { name: 'shared-demo', command: 'node', args: [DEMO] });
    expect(added.status).toBe(200);
    // B hears of it (NOTIFY), starts it, and routes calls to it.
    const called = await eventually(async () => {
      const answer = await b.request('POST', '/call', { server: 'shared-demo', tool: 'echo', arguments: { text: 'via b' } });
      return answer.status === 200 ? answer.body : undefined;
    }, 20_000);
    expect(JSON.stringify(called.result)).toContain('via b');
    expect((await b.request('GET', '/server/list')).body.servers).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'shared-demo', origin: 'runtime' })]),
    );
    // The audit log is shared: A's GET /log shows the call B made.
    const log = await eventually(async () => {
      const calls = (await a.request('GET', '/log?server=shared-demo')).body.calls as { server: string; tool: string; status: string }[];
      return calls.length > 0 ? calls : undefined;
    });
    expect(log[0]).toMatchObject({ server: 'shared-demo', tool: 'echo', status: 'success' });
    // Removed on B: gone from A too.
    expect((await b.request('POST', '/server/remove', { name: 'shared-demo' })).status).toBe(200);
    await eventually(async () => {
      const list = await a.request('GET', '/server/list');
      return !(list.body.servers as { name: string }[]).some((x) => x.name === 'shared-demo');
    }, 20_000);
    expect((await a.request('POST', '/call', { server: 'shared-demo', tool: 'echo', arguments: { text: 'x' } })).status).toBe(404);
  });

  it('[pg-speed] stops a backend on every gateway when one is asked to stop it, and starts it on every gateway again', async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = false\n${demoBackend()}`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    await Promise.all([a, b].map((gw) => gw.waitForLog((l) => l.msg === 'backend ready')));
    const status = async (gw: RunningGateway): Promise<string | undefined> =>
      ((await gw.request('GET', '/server/list')).body.servers as { name: string; status: string }[]).find((s) => s.name === 'demo')?.status;
    const call = async (gw: RunningGateway): Promise<number> =>
      (await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } })).status;
    expect((await a.request('POST', '/server/stop', { name: 'demo' })).status).toBe(200);
    // B hears the stored `enabled` (NOTIFY) and stops its own process: calls through it are refused as through A.
    await eventually(async () => (await status(b)) === 'stopped', 20_000);
    expect(await call(b)).toBe(503);
    await b.waitForLog((l) => l.msg === 'backend stopped by another gateway' && l.backend === 'demo');
    // Started through B: A follows.
    expect((await b.request('POST', '/server/start', { name: 'demo' })).status).toBe(200);
    await eventually(async () => (await call(a)) === 200, 20_000);
    expect(await status(a)).toBe('running');
  });

  it('[pg-speed] closes the circuit of a backend another gateway started, as that gateway closes its own', async () => {
    const flaky = `[[backends]]\nname = "flaky"\ncommand = "node"\nargs = [${q(fixture('counter-server'))}]\nenv = { FAIL_AS = "malformed" }\ncircuit_breaker = { failure_threshold = 2, reset_timeout = 3600 }\n`;
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = false\n${flaky}`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    await Promise.all([a, b].map((gw) => gw.waitForLog((l) => l.msg === 'backend ready')));
    const call = async (gw: RunningGateway, tool: string) => (await gw.request('POST', '/call', { server: 'flaky', tool, arguments: {} })).body;
    // Two malformed answers open B's circuit (reset_timeout is an hour: only a start closes it within the test).
    for (let i = 0; i < 2; i += 1) expect((await call(b, 'fail')).code).toBe('BACKEND_ERROR');
    expect((await call(b, 'ok')).code).toBe('CIRCUIT_OPEN');
    expect((await a.request('POST', '/server/stop', { name: 'flaky' })).status).toBe(200);
    await b.waitForLog((l) => l.msg === 'backend stopped by another gateway' && l.backend === 'flaky');
    expect((await a.request('POST', '/server/start', { name: 'flaky' })).status).toBe(200);
    // B starts its process as A did, and its circuit closes with it.
    await b.waitForLog((l) => l.msg === 'backend started by another gateway' && l.backend === 'flaky');
    const answered = await eventually(async () => {
      const body = await call(b, 'ok');
      return body.code === undefined ? body : undefined;
    }, 20_000);
    expect(answered.result).toBeDefined();
  });

  it('[pg-speed] applies a stop and an add made while its listening connection was down, once it is back', async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = false\n${demoBackend()}`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    await Promise.all([a, b].map((gw) => gw.waitForLog((l) => l.msg === 'backend ready')));
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // Both gateways' LISTEN connections go; each is opened again after a second (kit/pg-listener.ts), and the
      // changes below are committed (and NOTIFYed) meanwhile: no gateway hears them.
      const pids = await listenerPids(admin);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
      expect((await a.request('POST', '/server/stop', { name: 'demo' })).status).toBe(200);
      expect((await a.request('POST', '/server/add', { name: 'gap-demo', command: 'node', args: [DEMO] })).status).toBe(200);
    } finally {
      await admin.end();
    }
    try {
      // B re-reads the store when its connection is back: it stops demo and starts gap-demo.
      const servers = async (gw: RunningGateway) => (await gw.request('GET', '/server/list')).body.servers as { name: string; status: string }[];
      await eventually(async () => (await servers(b)).find((s) => s.name === 'demo')?.status === 'stopped', 20_000);
      const called = await eventually(async () => {
        const answer = await b.request('POST', '/call', { server: 'gap-demo', tool: 'echo', arguments: { text: 'after the gap' } });
        return answer.status === 200 ? answer.body : undefined;
      }, 20_000);
      expect(JSON.stringify(called.result)).toContain('after the gap');
      expect((await b.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } })).status).toBe(503);
    } finally {
      // The database is the file's: the next tests find demo started and no gap-demo.
      await a.request('POST', '/server/start', { name: 'demo' });
      await a.request('POST', '/server/remove', { name: 'gap-demo' });
    }
  });

  it('awaits and cancels, on one gateway, an async call that runs on the other', async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = false\n\n[[backends]]\nname = "demo"\ncommand = "node"\nargs = [${q(DEMO)}]\n`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    await Promise.all([a, b].map((gw) => gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo')));
    const short = await a.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 300 } });
    // One request on B that waits for A's outcome.
    const awaited = await b.request('GET', `/call/${short.body.call_id as string}?wait_ms=30000`);
    expect(awaited.body).toMatchObject({ status: 'complete' });
    const long = await a.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 600_000 } });
    await eventually(async () => (await a.request('GET', `/call/${long.body.call_id as string}`)).body.status === 'running');
    const cancelled = await b.request('DELETE', `/call/${long.body.call_id as string}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
  });

  it('refuses to start when the [store] database cannot be reached, naming it without its password', async () => {
    const toml = `[store]\nurl = "postgres://stonegate:s3cret-pw@127.0.0.1:1/nowhere"\n`;
    const error = await startGateway(toml).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/\[store\] url: could not open the PostgreSQL database at postgres:\/\/[^@]*@127\.0\.0\.1:1\/nowhere/);
    expect(error?.message).not.toContain('s3cret-pw');
  });

  it("streams on one gateway's /coord/events what another gateway accepted", async () => {
    const toml = `[store]\nurl = ${q(database.url)}\n\n[coordination]\nenabled = true\n`;
    const [a, b] = (await Promise.all([startGateway(toml), startGateway(toml)])) as [RunningGateway, RunningGateway];
    for (const agent_id of ['sse-from', 'sse-to']) expect((await a.request('POST', '/coord/agent/register', { agent_id, role: 'r' })).status).toBe(200);
    const start = (await a.request('GET', '/coord/stats')).body.events as { last_id: number };
    const stream = await fetch(`${b.url}/coord/events`, { headers: { accept: 'text/event-stream', 'last-event-id': String(start.last_id) } });
    expect(stream.status).toBe(200);
    const reading = readSse(stream.body as ReadableStream<Uint8Array>, (frames) => eventsOf(frames).some((e) => e.event === 'message'), 20_000);
    const sent = await a.request('POST', '/coord/msg/send', { from: 'sse-from', to: 'sse-to', content: 'seen on b' });
    expect(sent.status).toBe(200);
    const message = eventsOf(await reading).find((e) => e.event === 'message');
    expect(JSON.parse(message?.data ?? '{}')).toMatchObject({ message_id: sent.body.id, content: 'seen on b' });
  });
});
