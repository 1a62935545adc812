import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO, demoBackend, eventually, processesWithMarker, q, startGateway, stopAll } from '../helpers/harness.js';

afterEach(stopAll);

const DEMO_ENTRY = (name: string, env: Record<string, string> = {}): Record<string, unknown> => ({ name, command: 'node', args: [DEMO], env });

describe('runtime backend management', () => {
  it('adds a backend at runtime (sessions hear list_changed), keeps it across a restart, and removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-runtime-'));
    try {
      const gw = await startGateway('', { dir, keep: true });
      const client = new Client({ name: 'runtime-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('extra__echo');
      const changed = new Promise<void>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));

      const added = await gw.request('POST', '/server/add', DEMO_ENTRY('extra'));
      expect(added.status).toBe(200);
      expect(added.body).toMatchObject({ ok: true, server: { name: 'extra', status: 'running', origin: 'runtime' } });
      await changed;
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('extra__echo');
      const call = await gw.request('POST', '/call', { server: 'extra', tool: 'echo', arguments: { text: 'runtime' } });
      expect(call.body.result).toEqual({ content: [{ type: 'text', text: 'runtime' }] });
      await client.close();
      await gw.stop();

      const again = await startGateway('', { dir, keep: true });
      await again.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'extra');
      const listed = (await again.request('GET', '/server/list')).body.servers as { name: string; origin: string }[];
      expect(listed).toMatchObject([{ name: 'extra', origin: 'runtime' }]);
      const removed = await again.request('POST', '/server/remove', { name: 'extra' });
      expect(removed.body).toEqual({ ok: true, name: 'extra' });
      expect(((await again.request('GET', '/tools')).body.tools as unknown[]).length).toBe(0);
      const gone = await again.request('POST', '/call', { server: 'extra', tool: 'echo', arguments: { text: 'x' } });
      expect(gone.body.code).toBe('UNKNOWN_SERVER');
      await again.stop();

      const third = await startGateway('', { dir, keep: true });
      expect((await third.request('GET', '/server/list')).body.servers).toEqual([]);
      await third.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers ten concurrent adds of one name with one 200 and nine 409, and runs one process', async () => {
    const marker = `STONEGATE_TEST_MARK_${randomUUID()}`;
    const gw = await startGateway('');
    const answers = await Promise.all(Array.from({ length: 10 }, () => gw.request('POST', '/server/add', DEMO_ENTRY('twin', { [marker]: '1' }))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'CONFLICT')).toBe(true);
    expect(processesWithMarker(marker)).toHaveLength(1);
  });

  it('answers a backend that cannot start with its error, and keeps nothing of it', async () => {
    const gw = await startGateway('');
    const failed = await gw.request('POST', '/server/add', {
      name: 'broken',
      command: 'node',
      args: ['-e', "process.stderr.write('missing API key\\n'); process.exit(4)"],
    });
    expect(failed.status).toBe(503);
    expect(failed.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(failed.body.error).toMatch(/exited with code 4/);
    expect(failed.body.error).toMatch(/missing API key/);
    expect((await gw.request('GET', '/server/list')).body.servers).toEqual([]);
    const invalid = await gw.request('POST', '/server/add', { name: 'bad name', comand: 'node' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('BAD_REQUEST');
    expect(invalid.body.error).toMatch(/unknown key 'comand'/);
  });

  it('never shows a secret given in env or headers, in any answer or log line', async () => {
    const secret = `sentinel-${randomUUID()}`;
    const gw = await startGateway(`
${demoBackend()}
env = { API_TOKEN = ${q(secret)} }

[[backends]]
name = "remote"
transport = "http"
url = "http://user:${secret}@127.0.0.1:9/mcp"
headers = { Authorization = ${q(`Bearer ${secret}`)} }
auto_restart = false
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const bodies: string[] = [];
    const collect = async (method: string, path: string, body?: unknown): Promise<void> => {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      bodies.push(await res.text());
    };
    await collect('POST', '/server/add', { name: 'more', command: 'node', args: [DEMO], env: { TOKEN: secret }, headers: { X: secret } });
    await collect('POST', '/server/add', { name: 'more', command: 'node', args: [DEMO], env: { TOKEN: secret } });
    await collect('POST', '/call', { server: 'remote', tool: 'x', arguments: {} });
    await collect('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'hi' } });
    for (const path of ['/config', '/server/list', '/health', '/tools', '/log', '/stats', '/metrics', '/discover?query=token']) await collect('GET', path);
    const config = JSON.parse(bodies[4] ?? '{}') as {
      backends: { name: string; origin: string; env: Record<string, string>; headers: Record<string, string>; url?: string }[];
    };
    expect(config.backends.map((b) => [b.name, b.origin])).toEqual([
      ['demo', 'file'],
      ['remote', 'file'],
      ['more', 'runtime'],
    ]);
    expect(config.backends[0]?.env).toEqual({ API_TOKEN: '[redacted]' });
    expect(config.backends[1]?.headers).toEqual({ Authorization: '[redacted]' });
    await gw.stop();
    for (const body of bodies) expect(body).not.toContain(secret);
    for (const line of gw.logs) expect(JSON.stringify(line)).not.toContain(secret);
  });

  it('serves /metrics that a Prometheus parser accepts, and /stats percentiles true to the call log', async () => {
    const gw = await startGateway(`
${demoBackend()}
pool = { max_concurrency = 64 }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready');
    const delays = Array.from({ length: 40 }, (_, i) => 5 + i * 5);
    await Promise.all(delays.map((ms) => gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms } })));
    await gw.request('POST', '/call', { server: 'demo', tool: 'fail', arguments: {} });

    const metrics = await fetch(`${gw.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const families = parsePrometheusTextFormat(await metrics.text()) as {
      name: string;
      type: string;
      metrics: { labels?: Record<string, string>; value?: string }[];
    }[];
    const byName = new Map(families.map((f) => [f.name, f]));
    const calls = byName.get('stonegate_calls_total');
    expect(calls?.type).toBe('COUNTER');
    expect(calls?.metrics.find((m) => m.labels?.tool === 'sleep' && m.labels.status === 'success')?.value).toBe('40');
    expect(calls?.metrics.find((m) => m.labels?.tool === 'fail')?.labels?.status).toBe('error');
    expect(byName.get('stonegate_call_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(byName.get('stonegate_circuit_state')?.metrics.find((m) => m.labels?.state === 'closed')?.value).toBe('1');
    expect(byName.get('stonegate_pool_connections')?.metrics[0]?.value).toBe('1');

    const log = (await gw.request('GET', '/log?limit=1000&tool=sleep')).body.calls as { tool: string; duration_ms: number }[];
    const durations = log.filter((c) => c.tool === 'sleep').map((c) => c.duration_ms);
    const all = [...durations, ...log.filter((c) => c.tool !== 'sleep').map((c) => c.duration_ms)].sort((a, b) => a - b);
    expect(durations).toHaveLength(40);
    const exact = (p: number): number => all[Math.ceil(p * all.length) - 1] as number;
    const stats = (await gw.request('GET', '/stats')).body as Record<string, number>;
    expect(stats.total_calls).toBe(41);
    // demo's fail is the tool's own isError result: a tool error, not the backend's.
    expect(stats.total_errors).toBe(0);
    expect(stats.total_tool_errors).toBe(1);
    // The histogram answers the upper bound of the bucket that holds the
    // quantile; buckets are 25 % wide.
    for (const [key, p] of [
      ['p50_latency_ms', 0.5],
      ['p95_latency_ms', 0.95],
      ['p99_latency_ms', 0.99],
    ] as const) {
      expect(stats[key]).toBeGreaterThanOrEqual(exact(p));
      expect(stats[key]).toBeLessThanOrEqual(exact(p) * 1.25 + 0.01);
    }
    await eventually(async () => (await gw.request('GET', '/log?status=error')).body.total === 1);
  });
});
