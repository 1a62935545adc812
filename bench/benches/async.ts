import type { Bench, BenchReport } from '../bench.js';
import { fmt, quantile } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';

const CLIENTS = 16;

interface Submitted {
  id: string;
  submitMs: number;
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

/**
 * 1,000 async calls (demo `sleep` of 20 ms, so they overlap) submitted by 16
 * concurrent clients over REST, each client then awaiting its own calls
 * with GET /call/{id}?wait_ms=. Prints submit latency (the time to a
 * durable call_id) and completion throughput.
 */
export const asyncBench: Bench = {
  name: 'async',
  description: '1,000 async calls submitted and awaited by 16 concurrent clients: submit p50/p99, completion throughput',
  timeoutMs: 5 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const total = ctx.options.quick ? 200 : 1_000;
    const gw = await startStonegate(ctx, { backends: [{ name: 'demo' }], poolMax: 2 });
    try {
      await waitHealthy(gw.url, 30_000);
      const perClient = Math.ceil(total / CLIENTS);
      const started = performance.now();
      const clients = Array.from({ length: CLIENTS }, async () => {
        const mine: Submitted[] = [];
        for (let i = 0; i < perClient; i += 1) {
          const t0 = performance.now();
          const answer = await post(`${gw.url}/call/async`, { server: 'demo', tool: 'sleep', arguments: { ms: 20 } });
          if (typeof answer.call_id !== 'string') throw new Error(`submit failed: ${JSON.stringify(answer)}`);
          mine.push({ id: answer.call_id, submitMs: performance.now() - t0 });
        }
        let failed = 0;
        for (const call of mine) {
          const response = await fetch(`${gw.url}/call/${call.id}?wait_ms=30000`);
          const view = (await response.json()) as { status?: string };
          if (view.status !== 'complete') failed += 1;
        }
        return { submits: mine.map((c) => c.submitMs), failed };
      });
      const results = await Promise.all(clients);
      const seconds = (performance.now() - started) / 1000;
      const submits = Float64Array.from(results.flatMap((r) => r.submits)).sort();
      const failed = results.reduce((n, r) => n + r.failed, 0);
      const done = submits.length - failed;
      return {
        tables: [
          {
            title: `async dispatch: ${submits.length} calls (sleep 20 ms), ${CLIENTS} clients over REST`,
            columns: ['submit p50 ms', 'submit p99 ms', 'completed', 'failed', 'completion calls/s'],
            rows: [[fmt(quantile(submits, 0.5)), fmt(quantile(submits, 0.99)), String(done), String(failed), fmt(done / seconds, 0)]],
            leftColumns: [],
            note: 'Submit latency includes the write of the pending call to the data_dir database before its id is returned.',
          },
        ],
        notes: [],
        targets: [],
      };
    } finally {
      await gw.stop();
    }
  },
};
