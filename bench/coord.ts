/*
 * The coordination backend under load, through a real gateway process:
 *
 * - messages/s: 8 senders and 8 pollers (each sender feeds one poller),
 *   every message a committed SQLite write acknowledged to its sender and
 *   then returned by a poll; over REST /coord and over MCP /mcp
 *   (`coord__mux_send` / `coord__mux_poll` through router, pool, breaker),
 *   with the standalone server (`backends/coord/main.js`, REST) as the
 *   floor the gateway adds to;
 * - wake latency: one long poll parked, one send; how long after the send
 *   the poll answers.
 *
 *   node dist/bench/coord.js [--quick]     alone (prints the tables)
 *   node dist/bench/run.js coord           from the registry, once registered
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bench, BenchContext, BenchReport, TargetCheck } from './bench.js';
import { mcpLeanSurface, mcpSurface, restSurface, type Surface, storeSurface } from './coord-surfaces.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { NODE, ROOT } from './lib/paths.js';
import { cpuTimeMs, ProcessSet, sweepLeftovers } from './lib/processes.js';
import { fmt, quantile } from './lib/stats.js';
import { startStonegate } from './lib/stonegate.js';
import { renderTable, type Table } from './lib/table.js';

const COORD_MAIN = join(ROOT, 'dist', 'backends', 'coord', 'main.js');
/** Sender/poller pairs of a throughput run. */
export const PAIRS = 8;
const TARGET_MSGS_PER_SEC = 5_000;
const TARGET_WAKE_P50_MS = 2;
/** Messages each surface carries before the measured runs. */
const WARM_UP = 3_000;
/** The rows the targets are read from. */
const REST = 'stonegate REST /coord';
const MCP = 'stonegate MCP /mcp';

/** One throughput run of a surface. */
export interface Throughput {
  surface: string;
  messages: number;
  seconds: number;
  perSec: number;
  sendP50: number;
  sendP99: number;
  /** Send started → the poll that returned it answered. */
  deliverP50: number;
  deliverP99: number;
  /** Messages per poll answer: how much the pollers batch. */
  perPoll: number;
  /** CPU (user + system) per message of the serving process, and of this bench process (the client, or everything for the in-process store). */
  serverCpuUs: number;
  clientCpuUs: number;
}

/**
 * `total` messages: sender i sends its share to receiver i, one send in
 * flight per sender; poller i long-polls receiver i's inbox until it has
 * them all. Contents carry the send's start time, so each delivery is timed.
 */
export async function throughput(surface: Surface, total: number, tag: string, signal: AbortSignal): Promise<Throughput> {
  const senders = Array.from({ length: PAIRS }, (_, i) => `${tag}-tx${i}`);
  const receivers = Array.from({ length: PAIRS }, (_, i) => `${tag}-rx${i}`);
  for (const agent of [...senders, ...receivers]) await surface.register(agent);
  const share = Math.floor(total / PAIRS);
  const sendLatency: number[] = [];
  const deliverLatency: number[] = [];
  const serverCpu0 = surface.pid === undefined ? 0 : cpuTimeMs(surface.pid);
  const clientCpu0 = process.cpuUsage();
  const started = performance.now();
  const sending = senders.map(async (from, i) => {
    for (let n = 0; n < share; n += 1) {
      if ((n & 63) === 0 && signal.aborted) throw new Error('bench time bound reached');
      const t0 = performance.now();
      await surface.send(from, receivers[i] as string, `${t0}`);
      sendLatency.push(performance.now() - t0);
    }
  });
  let polls = 0;
  const polling = receivers.map(async (agent) => {
    let got = 0;
    while (got < share) {
      if (signal.aborted) throw new Error('bench time bound reached');
      polls += 1;
      const contents = await surface.poll(agent, 5);
      const now = performance.now();
      for (const content of contents) deliverLatency.push(now - Number(content));
      got += contents.length;
    }
  });
  await Promise.all([...sending, ...polling]);
  const seconds = (performance.now() - started) / 1000;
  const messages = share * PAIRS;
  const clientCpu = process.cpuUsage(clientCpu0);
  const serverCpuMs = surface.pid === undefined ? Number.NaN : cpuTimeMs(surface.pid) - serverCpu0;
  return {
    surface: surface.name,
    messages,
    seconds,
    perSec: messages / seconds,
    sendP50: quantile(sendLatency, 0.5),
    sendP99: quantile(sendLatency, 0.99),
    deliverP50: quantile(deliverLatency, 0.5),
    deliverP99: quantile(deliverLatency, 0.99),
    perPoll: messages / polls,
    serverCpuUs: (serverCpuMs * 1000) / messages,
    clientCpuUs: (clientCpu.user + clientCpu.system) / messages,
  };
}

/** Wake latencies of a surface. */
export interface Wake {
  surface: string;
  rounds: number;
  /** Send started → poll answered. */
  fromSendP50: number;
  fromSendP99: number;
  /** Send answered → poll answered (negative when the poll answered first). */
  afterAckP50: number;
  afterAckP99: number;
  /** Each round's send start, send answer and poll answer (performance.now()), for benches that split the hops between them. */
  times: { sent: number; acked: number; answered: number }[];
}

/** `rounds` times: park a long poll, send one message, time the poll's answer. */
export async function wake(surface: Surface, rounds: number, tag: string, signal: AbortSignal): Promise<Wake> {
  const [tx, rx] = [`${tag}-wake-tx`, `${tag}-wake-rx`];
  await surface.register(tx);
  await surface.register(rx);
  const fromSend: number[] = [];
  const afterAck: number[] = [];
  const times: Wake['times'] = [];
  for (let i = 0; i < rounds; i += 1) {
    if (signal.aborted) throw new Error('bench time bound reached');
    let answeredAt = 0;
    const polled = surface.poll(rx, 10).then((contents) => {
      answeredAt = performance.now();
      return contents;
    });
    // Nothing observable says the poll is parked; 10 ms is ample on loopback.
    await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    await surface.send(tx, rx, `wake-${i}`);
    const acked = performance.now();
    const contents = await polled;
    if (contents.length !== 1 || contents[0] !== `wake-${i}`) throw new Error(`${surface.name}: wake round ${i} got ${JSON.stringify(contents)}`);
    fromSend.push(answeredAt - t0);
    afterAck.push(answeredAt - acked);
    times.push({ sent: t0, acked, answered: answeredAt });
  }
  return {
    surface: surface.name,
    rounds,
    fromSendP50: quantile(fromSend, 0.5),
    fromSendP99: quantile(fromSend, 0.99),
    afterAckP50: quantile(afterAck, 0.5),
    afterAckP99: quantile(afterAck, 0.99),
    times,
  };
}

/** Starts the standalone coordination server on a free port; resolves with its URL and pid. */
async function startStandalone(ctx: BenchContext): Promise<{ url: string; pid: number }> {
  const proc = ctx.processes.spawn('coord', NODE, [COORD_MAIN, '--port', '0', '--db', join(ctx.tmp, 'standalone', 'coord.db')], {
    env: { COORD_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coord did not listen within 20 s: ${proc.tail.join('\n')}`)), 20_000);
    proc.onLine((line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: string; url?: unknown };
        if (parsed.msg === 'coord listening' && typeof parsed.url === 'string') {
          clearTimeout(timer);
          resolve({ url: parsed.url, pid: proc.pid });
        }
      } catch {
        // not its line
      }
    });
    void proc.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`coord exited (${e.code ?? e.signal}) before listening: ${proc.tail.join('\n')}`));
    });
  });
}

/** Waits until the gateway's catalog has the coord tools (the built-in backend is up). */
export async function coordUp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/tools/coord`).catch(() => undefined);
    if (response?.status === 200 && ((await response.json()) as { total?: number }).total !== 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the gateway at ${url} did not list the coord tools within ${timeoutMs} ms`);
}

/** The bench as an entry of bench/run.ts's registry. */
export const coordinationBench: Bench = {
  name: 'coord',
  description:
    'coordination backend through the gateway: messages/s with 8 senders + 8 pollers (REST /coord, MCP /mcp with a lean client and with the SDK client, standalone), send→long-poll wake latency',
  timeoutMs: 15 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const total = ctx.options.quick ? 2_000 : 8_000;
    const rounds = ctx.options.quick ? 50 : 300;
    const reps = ctx.options.quick ? 1 : 3;
    // The gateway with no backend but the built-in coord (it logs no line per call at the default level).
    const gateway = await startStonegate(ctx, { backends: [] }, 'stonegate-coord');
    await coordUp(gateway.url);
    const standalone = await startStandalone(ctx);
    const surfaces: Surface[] = [
      restSurface(REST, gateway.url, gateway.pid, 'lean'),
      restSurface('stonegate REST /coord (node:http client)', gateway.url, gateway.pid, 'node:http'),
      await mcpLeanSurface(MCP, gateway.url, gateway.pid, PAIRS * 2),
      await mcpSurface('stonegate MCP /mcp (SDK client)', gateway.url, gateway.pid, PAIRS * 2),
      restSurface('standalone coord REST', standalone.url, standalone.pid, 'lean'),
      storeSurface('in-process store (no HTTP)', join(ctx.tmp, 'in-process', 'coord.db')),
    ];
    const runs = new Map<string, Throughput[]>();
    const wakes: Wake[] = [];
    try {
      // Warm-up (long enough for the JIT to settle on the hot paths),
      // then interleaved repetitions so that a burst of other work lands on every surface.
      for (const [i, s] of surfaces.entries()) await throughput(s, Math.min(WARM_UP, total), `warm${i}`, ctx.signal);
      for (let rep = 0; rep < reps; rep += 1) {
        for (const [i, s] of surfaces.entries()) {
          const result = await throughput(s, total, `r${rep}s${i}`, ctx.signal);
          runs.set(s.name, [...(runs.get(s.name) ?? []), result]);
          ctx.log(`coord: ${s.name} rep ${rep + 1}: ${fmt(result.perSec, 0)} messages/s`);
        }
      }
      for (const [i, s] of surfaces.entries()) {
        wakes.push(await wake(s, rounds, `w${i}`, ctx.signal));
        ctx.log(`coord: ${s.name} wake p50 ${fmt(wakes[wakes.length - 1]!.fromSendP50)} ms`);
      }
    } finally {
      await Promise.all(surfaces.map((s) => s.close()));
    }

    const medianRun = (name: string): Throughput => {
      const list = [...(runs.get(name) ?? [])].sort((a, b) => a.perSec - b.perSec);
      return list[Math.floor(list.length / 2)] as Throughput;
    };
    const throughputTable: Table = {
      title: `Messages/s: ${PAIRS} senders + ${PAIRS} pollers, ${total.toLocaleString('en-US')} messages per run (median of ${reps}, after ${Math.min(WARM_UP, total).toLocaleString('en-US')} to warm up)`,
      columns: [
        'surface',
        'messages/s',
        'runs (messages/s)',
        'send p50 ms',
        'send p99 ms',
        'delivery p50 ms',
        'delivery p99 ms',
        'messages/poll',
        'server CPU µs/msg',
        'client CPU µs/msg',
      ],
      rows: surfaces.map((s) => {
        const m = medianRun(s.name);
        return [
          s.name,
          fmt(m.perSec, 0),
          (runs.get(s.name) ?? []).map((r) => fmt(r.perSec, 0)).join(' / '),
          fmt(m.sendP50),
          fmt(m.sendP99),
          fmt(m.deliverP50),
          fmt(m.deliverP99),
          fmt(m.perPoll, 1),
          Number.isNaN(m.serverCpuUs) ? '—' : fmt(m.serverCpuUs, 0),
          fmt(m.clientCpuUs, 0),
        ];
      }),
      note:
        'Each message is one send (a committed SQLite transaction in WAL mode, acknowledged to its sender) and is returned once by a long poll ' +
        '(timeout 5 s, up to 1,000 messages per answer). Delivery: from the start of the send to the answer of the poll that returned it. ' +
        'The standalone server (backends/coord/main.js) is the coordination backend without the gateway; the in-process store is the same SQLite store ' +
        'called directly from the bench process (no HTTP, no MCP): the ceiling of the store on this machine. ' +
        'Clients: rows without a client named use the lean keep-alive HTTP/1.1 client of bench/lib/lean-http.ts (one socket per request in flight, ' +
        'requests written as one buffer, the way wrk and autocannon drive a server); on /mcp it speaks JSON-RPC over Streamable HTTP in initialized sessions. ' +
        'The node:http and SDK-client rows show the same server driven by heavier clients, whose CPU comes out of the same two cores. ' +
        'CPU per message: user + system time of the serving process (/proc) and of the bench process (the clients; for the in-process store, everything), ' +
        'divided by the messages of the run; each message is a send and (at 1 message per poll) a poll, two requests.',
    };
    const wakeTable: Table = {
      title: `Wake latency: one long poll parked, one send (${rounds} rounds)`,
      columns: ['surface', 'send start → poll answer p50 ms', 'p99 ms', 'send answer → poll answer p50 ms', 'p99 ms'],
      rows: wakes.map((w) => [w.surface, fmt(w.fromSendP50), fmt(w.fromSendP99), fmt(w.afterAckP50), fmt(w.afterAckP99)]),
      note:
        'The target reads "send start → poll answer" (the strict reading: it includes the whole send request). "send answer → poll answer" starts when the sender has its answer, ' +
        'which follows the commit; waiters are woken from the commit itself (no timer), so a negative value means the poll answered before the send did.',
    };

    const targets: TargetCheck[] = [];
    for (const name of [REST, MCP]) {
      const perSec = medianRun(name).perSec;
      targets.push({
        goal: `${name}: ≥ ${TARGET_MSGS_PER_SEC.toLocaleString('en-US')} durable messages/s (8 senders + 8 pollers)`,
        measured: `${fmt(perSec, 0)} messages/s`,
        pass: perSec >= TARGET_MSGS_PER_SEC,
        margin: `${fmt((perSec / TARGET_MSGS_PER_SEC) * 100, 0)} % of the target`,
      });
    }
    for (const w of wakes.filter((x) => x.surface === REST || x.surface === MCP)) {
      targets.push({
        goal: `${w.surface}: send → long-poll wake p50 ≤ ${TARGET_WAKE_P50_MS} ms`,
        measured: `${fmt(w.fromSendP50)} ms (send start → poll answer)`,
        pass: w.fromSendP50 <= TARGET_WAKE_P50_MS,
        margin: `${fmt(Math.abs(w.fromSendP50 - TARGET_WAKE_P50_MS))} ms ${w.fromSendP50 <= TARGET_WAKE_P50_MS ? 'under' : 'over'} (send answer → poll answer: ${fmt(w.afterAckP50)} ms)`,
      });
    }
    const load = machineInfo();
    return {
      tables: [throughputTable, wakeTable],
      notes: [
        `The machine is shared and was loaded while this ran (load ${load.load1} on ${load.nproc} CPUs at the end); numbers move between runs.`,
        'The bench clients run in one Node process on the same CPUs as the gateway and compete with it; the client CPU column shows how much.',
        `Gateway REST /coord reaches ${fmt((medianRun(REST).perSec / medianRun('standalone coord REST').perSec) * 100, 0)} % of the standalone server's messages/s, ` +
          `MCP /mcp ${fmt((medianRun(MCP).perSec / medianRun('standalone coord REST').perSec) * 100, 0)} %.`,
      ],
      targets,
    };
  },
};

/** Runs the coordination bench alone (own processes and scratch folder) and returns what it prints. */
export async function coordBench(options: { quick?: boolean; verbose?: boolean } = {}): Promise<string> {
  const processes = new ProcessSet();
  const tmp = mkdtempSync(join(tmpdir(), 'stonegate-bench-coord-'));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), coordinationBench.timeoutMs);
  const ctx: BenchContext = {
    options: { quick: options.quick ?? false, verbose: options.verbose ?? true },
    processes,
    tmp,
    signal: controller.signal,
    log: (message) => {
      if (options.verbose ?? true) process.stderr.write(`  · ${message}\n`);
    },
  };
  const machine = describeMachine(machineInfo());
  try {
    const report = await coordinationBench.run(ctx);
    const out = [`stonegate coord bench — ${machine}`, ''];
    for (const table of report.tables) out.push(renderTable(table), '');
    for (const note of report.notes) out.push(note);
    out.push('');
    for (const t of report.targets) out.push(`target: ${t.goal}: ${t.measured} → ${t.pass ? 'PASS' : 'MISS'} (${t.margin})`);
    return out.join('\n');
  } finally {
    clearTimeout(timer);
    await processes.stopAll();
    await sweepLeftovers();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  coordBench({ quick: process.argv.includes('--quick') }).then(
    (text) => {
      process.stdout.write(`${text}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`coord bench: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
