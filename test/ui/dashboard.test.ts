import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium.js';
import { demoBackend, eventually, fixture, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * The dashboard in a real browser (Debian's chromium, headless, driven by
 * playwright-core) against a real gateway with three backends (two stdio
 * children and the built-in coord) and [auth] on: the page asks for the
 * token once, lists the backends with their states, shows a call in the
 * live feed as it happens, restarts, stops and starts a backend from its
 * buttons, searches tools, and shows async calls and coordination; with
 * an agent token it shows only that token's backends and no buttons. A
 * screenshot goes to test-artifacts/dashboard.png. The routes behind it
 * (/ui open, /log/stream admin-only, /call scoped) are checked over HTTP.
 */

const CHROMIUM = chromiumOrSkip('test/ui/dashboard.test.ts');

const ADMIN = 'ui-admin-token-4f2b9c';
const AGENT = 'ui-agent-token-7d1e03';

const TOML = `
[coordination]
enabled = true

[[auth.tokens]]
name = "operator"
role = "admin"
token = "\${UI_ADMIN}"

[[auth.tokens]]
name = "worker"
token = "\${UI_AGENT}"
servers = ["counter"]

${demoBackend()}

[[backends]]
name = "counter"
command = "node"
args = [${q(fixture('counter-server'))}]
# fail answers malformed responses, which the circuit breaker counts (a backend's JSON-RPC errors it does not).
env = { FAIL_AS = "malformed" }
`;

let gateway: RunningGateway;
let browser: Browser;
let page: Page;

async function api(method: string, path: string, body?: unknown, token = ADMIN): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function serverRow(name: string): Promise<{ status: string; pid: number | null }> {
  const list = (await api('GET', '/server/list')).body.servers as { name: string; status: string; pid: number | null }[];
  const row = list.find((s) => s.name === name);
  if (row === undefined) throw new Error(`no backend ${name}`);
  return row;
}

describe.skipIf(CHROMIUM === undefined)('dashboard at /ui', () => {
  beforeAll(async () => {
    gateway = await startGateway(TOML, { env: { UI_ADMIN: ADMIN, UI_AGENT: AGENT } });
    await eventually(async () => {
      const list = (await api('GET', '/server/list')).body.servers as { status: string }[] | undefined;
      return list?.length === 3 && list.every((s) => s.status === 'running');
    }, 20_000);
    browser = await launchChromium(CHROMIUM as string);
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(15_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopAll();
  });

  it('serves the page without a token and keeps the data routes guarded', async () => {
    for (const path of ['/ui/', '/ui/app.js', '/ui/style.css']) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
    expect((await fetch(`${gateway.url}/ui`, { redirect: 'manual' })).headers.get('location')).toBe('/ui/');
    expect((await fetch(`${gateway.url}/ui/secret.txt`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/server/list`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/log/stream`)).status).toBe(401);
    const agentStream = await fetch(`${gateway.url}/log/stream`, { headers: { authorization: `Bearer ${AGENT}` } });
    expect(agentStream.status).toBe(403);
    expect(((await agentStream.json()) as { code: string }).code).toBe('FORBIDDEN');
    expect((await api('GET', '/call?state=nope')).body.code).toBe('BAD_REQUEST');
  });

  it('asks for the token once, then lists the three backends with their states', async () => {
    await page.goto(`${gateway.url}/ui`);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', ADMIN);
    await page.click('#token-form button[type=submit]');
    await page.locator('#token-form').waitFor({ state: 'hidden' });
    expect(await page.evaluate("sessionStorage.getItem('stonegate.token')")).toBe(ADMIN);
    for (const name of ['demo', 'counter', 'coord']) {
      await page.locator(`#backends tr[data-backend="${name}"][data-status="running"]`).waitFor();
    }
    expect(await page.locator('#backends tbody tr').count()).toBe(3);
    const demoTools = (await api('GET', '/tools/demo')).body.total as number;
    const cells = await page.locator('#backends tr[data-backend="demo"] td').allTextContents();
    // The era column (#24): protocol unset on stdio is a configured 2025-11-25, legacy.
    expect(cells.slice(0, 4)).toEqual(['demo', 'running', 'legacy', 'closed']);
    expect(cells[6]).toBe(String(demoTools));
    await expect.poll(() => page.locator('#health').textContent()).toContain('3/3 backends');
  });

  it('shows a call in the live feed as it happens', async () => {
    await page.locator('#feed-state', { hasText: '(live)' }).waitFor();
    expect(await page.locator('#feed li[data-tool="add"]').count()).toBe(0);
    const call = await api('POST', '/call', { server: 'demo', tool: 'add', arguments: { a: 2, b: 3 } });
    expect(call.status).toBe(200);
    const row = page.locator('#feed li[data-server="demo"][data-tool="add"]');
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('success');
    expect(await row.textContent()).toContain('operator → demo/add');
    // A failing call shows its code.
    await api('POST', '/call', { server: 'counter', tool: 'fail', arguments: {} });
    await page.locator('#feed li[data-server="counter"][data-tool="fail"][data-status="error"]', { hasText: 'BACKEND_ERROR' }).waitFor();
    // The latency sparkline of the backend took the call.
    const spark = page.locator('#backends tr[data-backend="demo"] svg.spark');
    await spark.locator('polyline').waitFor({ state: 'attached' });
    expect(await spark.locator('title').textContent()).toMatch(/^last [\d.]+ ms/);
  });

  it('restarts, stops and starts a backend from its buttons', async () => {
    const before = await serverRow('demo');
    await page.click('#backends tr[data-backend="demo"] button[data-action="restart"]');
    const after = await eventually(async () => {
      const row = await serverRow('demo');
      return row.status === 'running' && row.pid !== before.pid ? row : undefined;
    }, 20_000);
    await page.locator(`#backends tr[data-backend="demo"][data-pid="${after.pid}"][data-status="running"]`).waitFor();

    const enabled = Number(/^ok · \d+\/(\d+) backends/.exec((await page.locator('#health').textContent()) ?? '')?.[1]);
    await page.click('#backends tr[data-backend="demo"] button[data-action="stop"]');
    await page.locator('#backends tr[data-backend="demo"][data-status="stopped"]').waitFor();
    expect((await serverRow('demo')).status).toBe('stopped');
    // Stopped through the API, it is no longer enabled: no ill health, one backend fewer to count.
    await expect.poll(() => page.locator('#health').textContent()).toContain(`ok · ${enabled - 1}/${enabled - 1} backends`);

    await page.click('#backends tr[data-backend="demo"] button[data-action="start"]');
    await page.locator('#backends tr[data-backend="demo"][data-status="running"]').waitFor();
    expect((await serverRow('demo')).status).toBe('running');
  });

  it('closes an open circuit from its reset button (#19 item 8)', async () => {
    const resetButton = page.locator('#backends tr[data-backend="counter"] button[data-action="reset"]');
    await page.locator('#backends tr[data-backend="counter"][data-circuit="closed"]').waitFor();
    expect(await resetButton.isDisabled()).toBe(true); // nothing to reset
    // Failing calls open the circuit (failure_threshold 5 by default).
    let code: unknown;
    for (let i = 0; i < 10 && code !== 'CIRCUIT_OPEN'; i += 1)
      code = (await api('POST', '/call', { server: 'counter', tool: 'fail', arguments: {} })).body.code;
    expect(code).toBe('CIRCUIT_OPEN');
    await page.locator('#backends tr[data-backend="counter"][data-circuit="open"]').waitFor();
    const pid = (await serverRow('counter')).pid;
    await resetButton.click();
    await page.locator('#backends tr[data-backend="counter"][data-circuit="closed"]').waitFor();
    expect((await api('POST', '/call', { server: 'counter', tool: 'ok', arguments: {} })).status).toBe(200);
    expect((await serverRow('counter')).pid).toBe(pid); // the process was not restarted
  });

  it('with an agent token: its backends only, no live feed, and no buttons', async () => {
    const context = await browser.newContext();
    try {
      const agentPage = await context.newPage();
      agentPage.setDefaultTimeout(15_000);
      await agentPage.goto(`${gateway.url}/ui/`);
      await agentPage.fill('#token-input', AGENT);
      await agentPage.click('#token-form button[type=submit]');
      await agentPage.locator('#backends tr[data-backend="counter"]').waitFor();
      expect(await agentPage.locator('#backends tbody tr').count()).toBe(1); // the token is limited to counter
      await agentPage.locator('#feed-state', { hasText: 'FORBIDDEN' }).waitFor();
      // #33: an agent token gets no lifecycle buttons (they would be refused, 403).
      expect(await agentPage.locator('#backends button[data-action]').count()).toBe(0);
      expect(await agentPage.locator('#coord-panel').isHidden()).toBe(true); // coord is not in its servers
    } finally {
      await context.close();
    }
    // The admin's tab kept its own token (sessionStorage is per tab).
    expect(await page.evaluate("sessionStorage.getItem('stonegate.token')")).toBe(ADMIN);
  });

  it('searches tools, shows async calls in flight and the coordination panel', async () => {
    await page.fill('#search', 'add two numbers');
    await page.locator('#results li code', { hasText: 'demo__add' }).waitFor();

    const submitted = await api('POST', '/call/async', { server: 'counter', tool: 'slow', arguments: { ms: 60_000 } }, AGENT);
    expect(submitted.status).toBe(202);
    const id = submitted.body.call_id as string;
    await page.locator('#async tbody tr', { hasText: id }).waitFor();
    expect(await page.locator('#async tbody tr', { hasText: id }).textContent()).toContain('worker');
    // The agent token sees its own call; a token limited to other backends would not.
    const mine = (await api('GET', '/call?state=active', undefined, AGENT)).body.calls as { call_id: string }[];
    expect(mine.map((c) => c.call_id)).toContain(id);
    await api('DELETE', `/call/${id}`, undefined, AGENT);
    await page.locator('#async tbody tr', { hasText: id }).waitFor({ state: 'detached' });

    expect((await api('POST', '/coord/agent/register', { agent_id: 'planner', role: 'lead' })).status).toBe(200);
    expect((await api('POST', '/coord/task/post', { description: 'write the release notes', posted_by: 'planner' })).status).toBe(200);
    expect((await api('POST', '/coord/msg/broadcast', { from: 'planner', content: 'notes are next' })).status).toBe(200);
    await page.locator('#coord-panel').waitFor({ state: 'visible' });
    await page.locator('.coord-channel[data-channel="default"] .coord-agents li', { hasText: 'planner (lead)' }).waitFor();
    await page.locator('.coord-channel[data-channel="default"] .coord-tasks li', { hasText: 'write the release notes' }).waitFor();
    await page.locator('.coord-channel[data-channel="default"] .coord-messages li', { hasText: 'planner → all: notes are next' }).waitFor();

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard.png'), fullPage: true });
  });
});
