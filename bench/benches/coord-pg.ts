import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Bench, BenchReport } from '../bench.js';
import { coordUp, PAIRS, type Throughput, throughput, type Wake, wake } from '../coord.js';
import { restSurface, type Surface } from '../coord-surfaces.js';
import { machineInfo } from '../lib/machine.js';
import { PROFILE_SETTINGS, startPgProfile } from '../lib/pg-profile.js';
import { benchPostgres, freshDatabase } from '../lib/pg-server.js';
import { cpuTimeMs, descendants } from '../lib/processes.js';
import { fmt } from '../lib/stats.js';
import { type RunningStonegate, startStonegate } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

const WORKERS = 16;

/** CPU (user + system, ms) of a process and every descendant, live or already reaped: a PostgreSQL server and its backends. */
function treeCpuMs(root: number | undefined): number {
  if (root === undefined) return Number.NaN;
  const stat = readFileSync(`/proc/${root}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, then cutime, cstime: the children already reaped (backends of closed connections).
  const own = ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  let children = 0;
  for (const pid of descendants(root)) {
    try {
      children += cpuTimeMs(pid);
    } catch {
      // exited meanwhile: counted in the parent's cutime once reaped
    }
  }
  return own + children;
}

/** The median of a hop's samples; — when there were none (no announcement: one gateway alone sends no NOTIFY). */
function hopP50(samples: number[] | undefined): string {
  if (samples === undefined || samples.length === 0) return '—';
  return fmt([...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] as number);
}

/**
 * LISTENs on a database's coordination channel (schema public: backends/coord/pg-store.ts names it) and records when a
 * payload naming `agent` arrives (performance.now()), until stop().
 */
async function listenFor(database: string, agent: string): Promise<{ stop: () => Promise<number[]> }> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  const arrivals: number[] = [];
  client.on('notification', (n) => {
    if (n.payload?.includes(agent)) arrivals.push(performance.now());
  });
  await client.query(`LISTEN coord_${createHash('sha256').update('public').digest('hex').slice(0, 20)}`);
  return {
    stop: async () => {
      await client.end();
      return arrivals;
    },
  };
}

/** CPU µs per message of the gateways (together) and of PostgreSQL over one run. */
interface CpuPerMessage {
  gatewayUs: number;
  /** The same per gateway process, in start order (two gateways: how the work splits between them). */
  perGatewayUs: number[];
  postgresUs: number;
}

async function measured<T extends { messages: number }>(
  gateways: RunningStonegate[],
  pgPid: number | undefined,
  run: () => Promise<T>,
): Promise<[T, CpuPerMessage]> {
  const each = (): number[] => gateways.map((g) => (g.pid === undefined ? Number.NaN : cpuTimeMs(g.pid)));
  const [each0, pg0] = [each(), treeCpuMs(pgPid)];
  const result = await run();
  const per = (ms: number): number => (ms * 1000) / result.messages;
  const perGatewayUs = each().map((ms, i) => per(ms - (each0[i] as number)));
  return [result, { gatewayUs: perGatewayUs.reduce((a, b) => a + b, 0), perGatewayUs, postgresUs: per(treeCpuMs(pgPid) - pg0) }];
}

/**
 * REST /coord spread over several gateways, as a load balancer spreads
 * agents: each agent talks to the gateway of its registration order, and
 * polls on the next one, so every delivery crosses gateways (LISTEN/NOTIFY).
 */
function spreadSurface(name: string, gateways: RunningStonegate[]): Surface {
  const surfaces = gateways.map((g) => restSurface(name, g.url, g.pid, 'lean'));
  const home = new Map<string, number>();
  const at = (agent: string, shift = 0): Surface => surfaces[((home.get(agent) ?? 0) + shift) % surfaces.length] as Surface;
  return {
    name,
    pid: undefined, // two serving processes: no one CPU figure
    async register(agent) {
      // A receiver (…-rx…) gets the home of its sender (…-tx…, registered first), so it polls on the other gateway than
      // the one its sender sends through: the throughput pairs and the wake pair alike. (Before, the wake's pair sent
      // and polled on the same gateway, so its wake never crossed.)
      const sender = agent.replace(/-rx(\d*)$/, '-tx$1');
      home.set(agent, sender !== agent && home.has(sender) ? (home.get(sender) as number) : home.size % surfaces.length);
      await at(agent).register(agent);
    },
    send: (from, to, content) => at(from).send(from, to, content),
    poll: (agent, timeout) => at(agent, 1).poll(agent, timeout),
    close: async () => void (await Promise.all(surfaces.map((s) => s.close()))),
  };
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`POST ${url}: HTTP ${response.status} ${JSON.stringify(parsed).slice(0, 300)}`);
  return parsed;
}

/** `tasks` tasks posted, then claimed and completed by 16 workers spread over the gateways; claims+completions per second. */
async function claims(urls: string[], tasks: number, tag: string): Promise<number> {
  const channel = `${tag}-tasks`;
  const workers = Array.from({ length: WORKERS }, (_, i) => ({ id: `${tag}-w${i}`, url: urls[i % urls.length] as string }));
  for (const w of workers) await post(`${w.url}/coord/agent/register`, { agent_id: w.id, role: 'bench', channel });
  // The poster is a registered agent of the channel ([coord-2] item 9): the first worker posts.
  const poster = workers[0]?.id ?? `${tag}-w0`;
  // Posted by 8 at a time (not timed): more task rounds fit in the bench's time.
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let t = next++; t < tasks; t = next++)
        await post(`${urls[t % urls.length] as string}/coord/task/post`, { description: `task ${t}`, posted_by: poster, channel });
    }),
  );
  const started = performance.now();
  let done = 0;
  await Promise.all(
    workers.map(async (w) => {
      for (;;) {
        const claim = await post(`${w.url}/coord/task/claim`, { agent_id: w.id, channel });
        const task = claim.task as { id: string; epoch: number } | null;
        if (task === null) return;
        await post(`${w.url}/coord/task/complete`, { task_id: task.id, agent_id: w.id, epoch: task.epoch });
        done += 1;
      }
    }),
  );
  if (done !== tasks) throw new Error(`${tag}: ${done} of ${tasks} tasks completed`);
  return tasks / ((performance.now() - started) / 1000);
}

interface Setup {
  name: string;
  /** The setup's database (PostgreSQL setups), for the profile. */
  database?: string;
  gateways: RunningStonegate[];
  surface: Surface;
}

/** STONEGATE_BENCH_PG_PROFILE=1: the first run of each PostgreSQL setup also reports its statements and waits (lib/pg-profile.ts). */
const profiling = (): boolean => process.env.STONEGATE_BENCH_PG_PROFILE === '1';

/**
 * Coordination throughput when gateways share PostgreSQL ([store] url):
 * one gateway on SQLite (the default, for reference), one gateway on
 * PostgreSQL, and two gateways on one PostgreSQL with every delivery
 * crossing from one to the other.
 */
export const coordPgBench: Bench = {
  name: 'coord-pg',
  description: 'coordination on PostgreSQL: messages/s, cross-gateway wake latency and task claims/s with 1 and 2 gateways (SQLite for reference)',
  timeoutMs: 15 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const total = ctx.options.quick ? 1_000 : 4_000;
    const rounds = ctx.options.quick ? 30 : 200;
    const tasks = ctx.options.quick ? 200 : 800;
    const reps = ctx.options.quick ? 1 : 3;
    const taskReps = ctx.options.quick ? 1 : 5;
    const server = await benchPostgres(ctx, 'coord-pg', profiling() ? PROFILE_SETTINGS : []);
    const setups: Setup[] = [];
    try {
      const coordToml = '[coordination]\nmax_event_buffer = 1000\n';
      const sqlite = await startStonegate(ctx, { backends: [], extraToml: coordToml }, 'coord-sqlite');
      setups.push({ name: 'SQLite, 1 gateway', gateways: [sqlite], surface: restSurface('SQLite, 1 gateway', sqlite.url, sqlite.pid, 'lean') });
      const storeToml = (url: string): string => `${coordToml}\n[store]\nurl = ${JSON.stringify(url)}\npool_size = 16\n`;
      const oneDb = await freshDatabase(server.url, 'bench_one');
      // STONEGATE_BENCH_PG_CPUPROF=DIR: the one-gateway PostgreSQL setup runs under node --cpu-prof (summary: dist/bench/profile-summary.js).
      const cpuProfDir = process.env.STONEGATE_BENCH_PG_CPUPROF || undefined;
      const one = await startStonegate(ctx, { backends: [], extraToml: storeToml(oneDb), ...(cpuProfDir === undefined ? {} : { cpuProfDir }) }, 'coord-pg1');
      setups.push({ name: 'PostgreSQL, 1 gateway', database: oneDb, gateways: [one], surface: restSurface('PostgreSQL, 1 gateway', one.url, one.pid, 'lean') });
      const twoDb = await freshDatabase(server.url, 'bench_two');
      const shared = storeToml(twoDb);
      // With STONEGATE_BENCH_PG_CPUPROF=DIR the two gateways are profiled too, in DIR/2a and DIR/2b.
      const prof = (sub: string): { cpuProfDir?: string } => (cpuProfDir === undefined ? {} : { cpuProfDir: `${cpuProfDir}/${sub}` });
      const two = [
        await startStonegate(ctx, { backends: [], extraToml: shared, ...prof('2a') }, 'coord-pg2a'),
        await startStonegate(ctx, { backends: [], extraToml: shared, ...prof('2b') }, 'coord-pg2b'),
      ];
      setups.push({ name: 'PostgreSQL, 2 gateways', database: twoDb, gateways: two, surface: spreadSurface('PostgreSQL, 2 gateways', two) });
      // STONEGATE_BENCH_BASE_BIN=<build>/bin/stonegate.js: the same PostgreSQL setups served by that build too, each on its own
      // database, interleaved with this build's rounds (an A/B in one run on a shared machine).
      const base = process.env.STONEGATE_BENCH_BASE_BIN || undefined;
      if (base !== undefined) {
        const baseOne = await freshDatabase(server.url, 'bench_base_one');
        const g = await startStonegate(ctx, { backends: [], extraToml: storeToml(baseOne), bin: base }, 'coord-pg1-base');
        const name = 'PostgreSQL, 1 gateway, base build';
        setups.push({ name, database: baseOne, gateways: [g], surface: restSurface(name, g.url, g.pid, 'lean') });
        const baseTwoDb = await freshDatabase(server.url, 'bench_base_two');
        const baseTwo = storeToml(baseTwoDb);
        const pair = [
          await startStonegate(ctx, { backends: [], extraToml: baseTwo, bin: base }, 'coord-pg2a-base'),
          await startStonegate(ctx, { backends: [], extraToml: baseTwo, bin: base }, 'coord-pg2b-base'),
        ];
        const pairName = 'PostgreSQL, 2 gateways, base build';
        setups.push({ name: pairName, database: baseTwoDb, gateways: pair, surface: spreadSurface(pairName, pair) }); // profiled too
      }
      // STONEGATE_BENCH_PG_ASYNC_COMMIT=1: also one gateway on a database with synchronous_commit = off, the operator option
      // docs/several-gateways.md describes (a PostgreSQL crash may lose the last commits). Never the default rows.
      if (process.env.STONEGATE_BENCH_PG_ASYNC_COMMIT === '1') {
        const asyncDb = await freshDatabase(server.url, 'bench_async');
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        await admin.query('ALTER DATABASE bench_async SET synchronous_commit = off').finally(() => admin.end());
        const g = await startStonegate(ctx, { backends: [], extraToml: storeToml(asyncDb) }, 'coord-pg-async');
        const name = 'PostgreSQL, 1 gateway, synchronous_commit off';
        setups.push({ name, database: asyncDb, gateways: [g], surface: restSurface(name, g.url, g.pid, 'lean') });
      }
      for (const s of setups) for (const g of s.gateways) await coordUp(g.url);

      const runs = new Map<string, Throughput[]>();
      const cpu = new Map<string, CpuPerMessage[]>();
      // Per task: its post, claim and completion.
      const cpuTasks = new Map<string, CpuPerMessage[]>();
      const pgPid = server.cluster?.pid();
      const wakes: Wake[] = [];
      const claimRates = new Map<string, number[]>();
      for (const [i, s] of setups.entries()) await throughput(s.surface, Math.min(400, total), `warm${i}`, ctx.signal);
      const profiles: Table[] = [];
      for (let rep = 0; rep < reps; rep += 1) {
        for (const [i, s] of setups.entries()) {
          const profile = rep === 0 && profiling() && s.database !== undefined ? await startPgProfile(s.database, pgPid) : undefined;
          const [result, used] = await measured(s.gateways, s.name.startsWith('SQLite') ? undefined : pgPid, () =>
            throughput(s.surface, total, `r${rep}s${i}`, ctx.signal),
          );
          if (profile !== undefined) profiles.push(...(await profile.stop(s.name, result.messages)));
          runs.set(s.name, [...(runs.get(s.name) ?? []), result]);
          cpu.set(s.name, [...(cpu.get(s.name) ?? []), used]);
          ctx.log(`coord-pg: ${s.name} rep ${rep + 1}: ${fmt(result.perSec, 0)} messages/s`);
        }
      }
      // [pg-speed] Tasks in their own rounds, more of them (a run is a few seconds), each round in the other order than the
      // one before, and "tasks × SQLite" the median of each round's ratio to SQLite's run of the same round: a shared
      // machine's load moves between rounds more than between two runs of one round (three rounds gave 0.70× and 0.87×).
      const taskRatios = new Map<string, number[]>();
      for (let rep = 0; rep < taskReps; rep += 1) {
        const order = [...setups.entries()];
        if (rep % 2 === 1) order.reverse();
        const rates = new Map<string, number>();
        for (const [i, s] of order) {
          const taskProfile = rep === 0 && profiling() && s.database !== undefined ? await startPgProfile(s.database, pgPid) : undefined;
          const [claimed, taskCpu] = await measured(s.gateways, s.name.startsWith('SQLite') ? undefined : pgPid, async () => ({
            rate: await claims(
              s.gateways.map((g) => g.url),
              tasks,
              `c${rep}s${i}`,
            ),
            messages: tasks,
          }));
          if (taskProfile !== undefined) profiles.push(...(await taskProfile.stop(`${s.name}, tasks (per task: claim and completion)`, tasks)));
          cpuTasks.set(s.name, [...(cpuTasks.get(s.name) ?? []), taskCpu]);
          claimRates.set(s.name, [...(claimRates.get(s.name) ?? []), claimed.rate]);
          rates.set(s.name, claimed.rate);
          ctx.log(`coord-pg: ${s.name} task round ${rep + 1}: ${fmt(claimed.rate, 0)} tasks/s`);
        }
        const sqliteRate = rates.get(setups[0]?.name ?? '') ?? Number.NaN;
        for (const s of setups) taskRatios.set(s.name, [...(taskRatios.get(s.name) ?? []), (rates.get(s.name) ?? Number.NaN) / sqliteRate]);
      }
      // The wake's hops after the send's answer, for PostgreSQL: when a client LISTENing on the store's channel hears the
      // announcement of the receiver's inbox, and from then to the poll's answer (the other gateway's wake-up, read and commit).
      const notifyHops: { heard: number[]; after: number[] }[] = [];
      for (const [i, s] of setups.entries()) {
        const heard = s.database === undefined ? undefined : await listenFor(s.database, `w${i}-wake-rx`);
        const w = await wake(s.surface, rounds, `w${i}`, ctx.signal);
        wakes.push(w);
        const arrivals = (await heard?.stop()) ?? [];
        const hops = { heard: [] as number[], after: [] as number[] };
        for (const t of w.times) {
          const at = arrivals.find((a) => a >= t.sent && a <= t.answered + 50); // this round's announcement: it leaves after the send's commit
          if (at === undefined) continue;
          hops.heard.push(at - t.acked);
          hops.after.push(t.answered - at);
        }
        notifyHops.push(hops);
      }

      const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] as number;
      const medianRun = (name: string): Throughput => {
        const list = [...(runs.get(name) ?? [])].sort((a, b) => a.perSec - b.perSec);
        return list[Math.floor(list.length / 2)] as Throughput;
      };
      const table: Table = {
        title: `Coordination over REST /coord: ${PAIRS} senders + ${PAIRS} pollers, ${total.toLocaleString('en-US')} messages per run; ${tasks} tasks claimed and completed by ${WORKERS} workers; median of ${reps} message runs and of ${taskReps} task rounds`,
        columns: [
          'store',
          'messages/s',
          'runs',
          '× SQLite',
          'gateway CPU µs/msg',
          'per gateway process µs/msg',
          'PostgreSQL CPU µs/msg',
          'send p50 ms',
          'send p99 ms',
          'delivery p50 ms',
          'delivery p99 ms',
          'tasks/s',
          'task runs',
          'tasks × SQLite',
          'gateway CPU µs/task',
          'PostgreSQL CPU µs/task',
          'wake p50 ms',
          'wake p99 ms',
          'wake after send answer p50 ms',
          'wake: NOTIFY heard after send answer p50 ms',
          'wake: poll answer after NOTIFY p50 ms',
        ],
        rows: setups.map((s, i) => {
          const m = medianRun(s.name);
          const w = wakes[i] as Wake;
          const used = cpu.get(s.name) ?? [];
          const sqlite = medianRun(setups[0]?.name ?? '');
          return [
            s.name,
            fmt(m.perSec, 0),
            (runs.get(s.name) ?? []).map((r) => fmt(r.perSec, 0)).join(' / '),
            fmt(m.perSec / sqlite.perSec),
            fmt(median(used.map((u) => u.gatewayUs)), 0),
            s.gateways.map((_, g) => fmt(median(used.map((u) => u.perGatewayUs[g] ?? Number.NaN)), 0)).join(' + '),
            i === 0 ? '—' : fmt(median(used.map((u) => u.postgresUs)), 0),
            fmt(m.sendP50),
            fmt(m.sendP99),
            fmt(m.deliverP50),
            fmt(m.deliverP99),
            fmt(median(claimRates.get(s.name) ?? [0]), 0),
            (claimRates.get(s.name) ?? []).map((r) => fmt(r, 0)).join(' / '),
            fmt(median(taskRatios.get(s.name) ?? [Number.NaN])),
            fmt(median((cpuTasks.get(s.name) ?? []).map((u) => u.gatewayUs)), 0),
            i === 0 ? '—' : fmt(median((cpuTasks.get(s.name) ?? []).map((u) => u.postgresUs)), 0),
            fmt(w.fromSendP50),
            fmt(w.fromSendP99),
            fmt(w.afterAckP50),
            hopP50(notifyHops[i]?.heard),
            hopP50(notifyHops[i]?.after),
          ];
        }),
        note:
          'With 2 gateways each agent sends through one gateway and polls through the other, so every delivery and every wake crosses gateways (a NOTIFY sent after the commit, LISTEN on the other). ' +
          "Tasks: workers alternate gateways; each task is one claim and one completion; task rounds alternate the setups' order, and 'tasks × SQLite' is the median of each round's ratio to that round's SQLite run. Wake: send start → answer of a long poll parked on the other gateway (1 gateway: on the same one, where the send hands the message over); \"after send answer\": from the send's answer to the poll's, the hops after the commit (announcement, LISTEN, the poll's read and its cursor commit), split where a client LISTENing on the store's channel hears the announcement (— where none is sent: one gateway alone announces nothing). " +
          'CPU per message: user + system time over the throughput runs of the gateway processes (both, for 2 gateways) and of the PostgreSQL server with all its backends (/proc), divided by the messages delivered (per task: its post, claim and completion); the client is not counted.',
      };
      const load = machineInfo();
      return {
        tables: [table, ...profiles],
        notes: [
          `PostgreSQL ${server.cluster === undefined ? 'given by STONEGATE_BENCH_PG_URL' : 'started by the bench on loopback, with fsync on and synchronous_commit on (its defaults)'}; gateways, PostgreSQL and the bench client share this machine (load ${load.load1} on ${load.nproc} CPUs at the end).`,
          'Since coordination schema 7 a send, broadcast or poll and every task write is one function call without the store-wide lock (backends/coord/migration-lockfree.ts); since schema 8 they commit without NOTIFY (the gateway announces after the commit: kit/pg-announcer.ts) and take advisory writer locks; since schema 9 a send hands its message to a poll parked on its own gateway (pg/handoff-functions.ts) and task writes take no agent row lock; claim, thread and deregistration writes still take the store-wide lock.',
        ],
        targets: [],
      };
    } finally {
      await Promise.all(setups.map((s) => s.surface.close()));
      await Promise.all(setups.flatMap((s) => s.gateways.map((g) => g.stop())));
      server.cluster?.stop();
    }
  },
};
