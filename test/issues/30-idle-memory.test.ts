import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { demoBackend, fixture, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, idle RSS: what a gateway does not use, it does not load. jose
// (JWT verification, ~3.5 MB of RSS) is loaded at the first OAuth token to
// verify (src/auth/oauth.ts), so a gateway without [auth.oauth] never loads
// it; test/issues/26-oauth*.test.ts hold the OAuth behaviour unchanged.
// With tracing on, the OTLP exporter is loaded when the first batch leaves.
// ICU's collation data is mapped at the first discover search, not at
// import. And V8's young generation, which grew to two 16 MB semi-spaces
// while the modules loaded, stays small from the first instruction
// (bin/stonegate.js, src/cli/heap.ts) until load comes, and is given back
// when the load stops.

afterAll(stopAll);

const MB = 2 ** 20;

/** V8's young generation (both semi-spaces), from the gateway's own GET /metrics. */
async function youngBytes(gw: RunningGateway): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const match = /nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/.exec(text);
  expect(match, 'the new-space gauge in /metrics').not.toBeNull();
  return Number(match?.[1]);
}

describe('#30 idle memory', () => {
  it('loads no jose in a gateway without [auth.oauth]', async () => {
    const log = join(tmpdir(), `stonegate-load-watch-${process.pid}.log`);
    writeFileSync(log, '');
    const gw = await startGateway(demoBackend(), { env: { STONEGATE_LOAD_LOG: log, NODE_OPTIONS: `--import ${fixture('load-watch')}` } });
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    expect((await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'hi' } })).status).toBe(200);
    expect((await gw.request('GET', '/health')).status).toBe(200);
    const loaded = readFileSync(log, 'utf8').split('\n');
    // The watch is armed: the SDK and the gateway's own modules are in the log.
    expect(loaded.some((url) => url.includes('@modelcontextprotocol/server'))).toBe(true);
    expect(loaded.filter((url) => url.includes('/node_modules/jose/'))).toEqual([]);
  });

  it('loads the OTLP exporter with tracing on only when the first batch leaves', async () => {
    let exported: () => void = () => undefined;
    const firstBatch = new Promise<void>((resolve) => {
      exported = resolve;
    });
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200).end();
        exported();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    try {
      const log = join(tmpdir(), `stonegate-load-watch-otel-${process.pid}.log`);
      writeFileSync(log, '');
      const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
      const gw = await startGateway(`[telemetry]\nenabled = true\notlp_endpoint = "${endpoint}"\n${demoBackend()}`, {
        env: { STONEGATE_LOAD_LOG: log, NODE_OPTIONS: `--import ${fixture('load-watch')}`, OTEL_BSP_SCHEDULE_DELAY: '50' },
      });
      await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
      const exporters = (): string[] =>
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((url) => url.includes('/exporter-trace-otlp-'));
      // Tracing is on ([otel] #32: the SDK itself waits for the first sampled span, test/issues/32-otel-idle).
      expect(readFileSync(log, 'utf8')).toContain('/dist/src/telemetry/otel.js');
      expect(exporters()).toEqual([]);
      expect((await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'traced' } })).status).toBe(200);
      await firstBatch;
      expect(exporters().some((url) => url.includes('/exporter-trace-otlp-proto/'))).toBe(true);
    } finally {
      sink.close();
    }
  });

  it('builds no Intl.Collator until the first search', async () => {
    const collator = vi.spyOn(Intl, 'Collator');
    try {
      const { WordIndex } = await import('../../src/catalog/word-index.js');
      const { buildIndex, tokenize } = await import('../../src/catalog/discover.js');
      const index = new WordIndex<{ exposed: string; index: ReturnType<typeof buildIndex> }>();
      for (const name of ['read_file', 'read_dir'])
        index.add({ exposed: `fs__${name}`, index: buildIndex({ name, exposed: `fs__${name}`, description: 'read' }) });
      expect(collator).not.toHaveBeenCalled();
      expect(index.search(tokenize('read'), 'read', 5, () => true).hits.map((h) => h.item.exposed)).toEqual(['fs__read_dir', 'fs__read_file']);
      expect(collator).toHaveBeenCalledTimes(1);
    } finally {
      collator.mockRestore();
    }
  });

  it('keeps the young generation small from the start, and small again once a load has stopped', async () => {
    const gw = await startGateway(`[logging]\nlevel = "debug"\n${demoBackend()}`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    // V8 grows it to 2 × 16 MB while a gateway's modules load; the start-up sizing keeps its initial 1 MB.
    expect(await youngBytes(gw)).toBeLessThan(8 * MB);
    const body = { server: 'demo', tool: 'echo', arguments: { text: 'load' } };
    let busy = false;
    void gw
      .waitForLog((l) => l.msg === 'heap state' && l.state === 'busy', 60_000)
      .then(() => {
        busy = true;
      });
    // Load until the gateway counts as busy (its CPU over 10 % of a core in two 1 s windows in a row), then stop.
    for (let round = 0; round < 200 && !busy; round += 1) {
      const statuses = await Promise.all(Array.from({ length: 16 }, async () => (await gw.request('POST', '/call', body)).status));
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
    expect(busy, 'the gateway saw the load').toBe(true);
    const idle = await gw.waitForLog((l) => l.msg === 'heap state' && l.state === 'idle', 30_000);
    expect(idle.heapTotalMb).toBeTypeOf('number');
    // No collection is forced when the load stops (it made the next burst cost ~1.5× CPU per call):
    // V8's memory reducer shrinks the young generation in the seconds after.
    await vi.waitFor(async () => expect(await youngBytes(gw)).toBeLessThan(8 * MB), { timeout: 30_000, interval: 500 });
  }, 120_000);

  it('ends the start-up sizing after 10 s even when a backend never becomes ready (its restarts hold the start open)', async () => {
    // An HTTP backend on a port nothing listens on: it fails and waits its backoff (5, 10, 20 … s) before each try, so its start stays open for minutes.
    const gw = await startGateway(
      `[logging]\nlevel = "debug"\n\n[supervisor]\nrestart_backoff_min = 5000\n\n[[backends]]\nname = "away"\ntransport = "http"\nurl = "http://127.0.0.1:9/mcp"\nstart_timeout = 1000\n`,
    );
    const ended = await gw.waitForLog((l) => l.msg === 'start-up heap sizing ended', 30_000);
    expect(ended.after_ms).toBeGreaterThan(0);
    expect((await serverRow(gw, 'away')).status).not.toBe('running');
  }, 60_000);
});
