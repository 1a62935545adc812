import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium.js';
import { DEMO, demoBackend, eventually, fixture, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #33: the dashboard as an operator's page, in headless chromium
 * against a real gateway with real children. The playground calls a tool
 * from a form made from its schema and shows the result as the agent gets
 * it; a backend's drawer shows a crash of the demo backend (its `crash`
 * tool) and a circuit opening in its history; the charts take a burst of
 * calls; a backend is added, disabled, enabled and removed from the page;
 * an agent token's session shows its backends only and no admin control.
 * The routes behind it (GET /server/history, GET /stats/history) are
 * checked for roles and scope over HTTP.
 */

const CHROMIUM = chromiumOrSkip('test/issues/33-dashboard.test.ts');
const ADMIN = 'dash-admin-token-93c1f0';
const AGENT = 'dash-agent-token-52ad7e';

const TOML = `
[[auth.tokens]]
name = "operator"
role = "admin"
token = "\${DASH_ADMIN}"

[[auth.tokens]]
name = "worker"
token = "\${DASH_AGENT}"
servers = ["form"]

${demoBackend()}

[[backends]]
name = "form"
command = "node"
args = [${q(fixture('form-server'))}]

[[backends]]
name = "counter"
command = "node"
args = [${q(fixture('counter-server'))}]
# fail answers malformed responses, which the circuit breaker counts.
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

async function servers(): Promise<{ name: string; status: string }[]> {
  return (await api('GET', '/server/list')).body.servers as { name: string; status: string }[];
}

async function login(target: Page, token: string): Promise<void> {
  await target.goto(`${gateway.url}/ui/`);
  await target.locator('#token-form').waitFor({ state: 'visible' });
  await target.fill('#token-input', token);
  await target.click('#token-form button[type=submit]');
  await target.locator('#token-form').waitFor({ state: 'hidden' });
}

/** The structured content the playground shows, parsed. */
async function structured(target: Page): Promise<unknown> {
  return JSON.parse((await target.locator('#play-result pre.structured').textContent()) ?? 'null');
}

describe.skipIf(CHROMIUM === undefined)('#33 the dashboard: playground, backend detail, charts, management', () => {
  beforeAll(async () => {
    gateway = await startGateway(TOML, { env: { DASH_ADMIN: ADMIN, DASH_AGENT: AGENT } });
    await eventually(async () => {
      const list = await servers().catch(() => undefined);
      return list?.length === 3 && list.every((s) => s.status === 'running');
    }, 20_000);
    browser = await launchChromium(CHROMIUM as string);
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.setDefaultTimeout(15_000);
    page.on('dialog', (dialog) => void dialog.accept()); // the remove confirmation
    await login(page, ADMIN);
    await page.locator('#backends tr[data-backend="demo"][data-status="running"]').waitFor();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopAll();
  });

  it('GET /server/history and GET /stats/history: agent routes, a token limited to backends reads only theirs', async () => {
    expect((await fetch(`${gateway.url}/server/history?name=demo`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/stats/history`)).status).toBe(401);
    const mine = await api('GET', '/server/history?name=form', undefined, AGENT);
    expect(mine.status).toBe(200);
    const events = mine.body.events as { kind: string; from: string; to: string; at: string }[];
    expect(events.map((e) => `${e.from}→${e.to}`)).toEqual(['stopped→starting', 'starting→running']);
    expect(Number.isNaN(Date.parse(events[0]?.at ?? ''))).toBe(false);
    const other = await api('GET', '/server/history?name=demo', undefined, AGENT);
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('FORBIDDEN');
    expect((await api('GET', '/server/history?name=nope')).body.code).toBe('UNKNOWN_SERVER');

    await api('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } });
    await api('POST', '/call', { server: 'form', tool: 'refuse', arguments: {} }, AGENT);
    const all = (await api('GET', '/stats/history?minutes=60')).body;
    expect(all.step_seconds).toBe(10);
    expect(all.points).toBe(360);
    const backends = all.backends as Record<string, { calls: number[]; failed: number[]; errors: number[]; p95_ms: (number | null)[] }>;
    expect(Object.keys(backends).sort()).toEqual(['demo', 'form']);
    expect(backends.demo?.calls.length).toBe(360);
    expect(backends.demo?.calls.reduce((n, c) => n + c, 0)).toBe(1);
    // A tool's isError is a failed call, not the backend's error.
    expect(backends.form?.failed.reduce((n, c) => n + c, 0)).toBe(1);
    expect(backends.form?.errors.reduce((n, c) => n + c, 0)).toBe(0);
    const scoped = (await api('GET', '/stats/history', undefined, AGENT)).body;
    expect(Object.keys(scoped.backends as object)).toEqual(['form']);
    expect(scoped.points).toBe(90);
    expect((await api('GET', '/stats/history?minutes=0')).body.code).toBe('BAD_REQUEST');
    // The Origin rules are the API's: a foreign page's request is refused.
    const foreign = await fetch(`${gateway.url}/stats/history`, { headers: { authorization: `Bearer ${ADMIN}`, origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
  });

  it('the playground calls a tool from a form made from its schema and shows the result as the agent gets it', async () => {
    // Found with the tool search, opened in the playground.
    await page.fill('#search', 'add two numbers');
    await page.locator('#results li', { hasText: 'demo__add' }).locator('button.try').click();
    await page.locator('#play-form[data-tool="demo__add"]').waitFor();
    await page.fill('#play-fields [name="a"]', '2');
    await page.fill('#play-fields [name="b"]', '3.5');
    await page.click('#play-call');
    await page.locator('#play-result[data-status="success"] pre.text', { hasText: '5.5' }).waitFor();
    expect(await structured(page)).toEqual({ sum: 5.5 });
    expect(await page.locator('#play-result .result-head').textContent()).toMatch(/demo\/add · [\d.]+ ms at the gateway/);

    // Every kind of field: string, boolean, enum, list, nested object, list of objects, raw JSON for an anyOf.
    await page.fill('#play-tool', 'form__shape');
    await page.locator('#play-form[data-tool="form__shape"]').waitFor();
    await page.fill('#play-fields [name="title"]', 'hello');
    await page.fill('#play-fields [name="count"]', '4');
    await page.selectOption('#play-fields [name="loud"]', 'true');
    await page.selectOption('#play-fields [name="color"]', { label: 'green' });
    const tags = page.locator('#play-fields fieldset.array', { has: page.locator('legend', { hasText: 'tags' }) });
    await tags.locator('button.add-item').click();
    await tags.locator('button.add-item').click();
    await page.fill('#play-fields [name="tags.0"]', 'a');
    await page.fill('#play-fields [name="tags.1"]', 'b');
    await page.fill('#play-fields [name="owner.name"]', 'ada');
    const points = page.locator('#play-fields fieldset.array', { has: page.locator('legend', { hasText: 'points' }) });
    await points.locator('button.add-item').click();
    await page.fill('#play-fields [name="points.0.x"]', '1');
    await page.fill('#play-fields [name="points.0.y"]', '-2');
    await page.fill('#play-fields [name="extra"]', '7');
    await page.click('#play-call');
    await page.locator('#play-result[data-status="success"] img').waitFor();
    expect(await page.locator('#play-result img').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await structured(page)).toEqual({
      received: { title: 'hello', count: 4, loud: true, color: 'green', tags: ['a', 'b'], owner: { name: 'ada' }, points: [{ x: 1, y: -2 }], extra: 7 },
    });

    // A tool's isError, and a gateway error with its code.
    await page.fill('#play-tool', 'form__refuse');
    await page.locator('#play-form[data-tool="form__refuse"]').waitFor();
    await page.click('#play-call');
    await page.locator('#play-result[data-status="isError"]', { hasText: 'refused on purpose' }).waitFor();
    await page.fill('#play-tool', 'demo__add');
    await page.locator('#play-form[data-tool="demo__add"]').waitFor();
    await page.click('#play-raw-box summary');
    await page.check('#play-use-raw');
    await page.fill('#play-raw', '{"a": "two", "b": 1}');
    await page.click('#play-call');
    await page.locator('#play-result[data-status="error"]', { hasText: 'INVALID_ARGUMENTS' }).waitFor();
  });

  it("a backend's drawer shows its config, tools and a crash in its history after the demo crash tool", async () => {
    await page.click('#backends tr[data-backend="demo"] button.link');
    await page.locator('#drawer[data-backend="demo"]').waitFor({ state: 'visible' });
    await page.locator('#drawer-tools details[data-tool="echo"]').waitFor();
    expect(await page.locator('#drawer-config pre').textContent()).toContain('"command": "node"');
    expect(await page.locator('#drawer-summary').textContent()).toContain('legacy 2025-11-25 (configured)');
    expect(await page.locator('#drawer-history li[data-kind="crash"]').count()).toBe(0);

    const crashed = await api('POST', '/call', { server: 'demo', tool: 'crash', arguments: {} });
    expect(crashed.body.code).toBe('BACKEND_UNAVAILABLE');
    const crash = page.locator('#drawer-history li[data-kind="crash"]');
    await crash.waitFor();
    expect(await crash.textContent()).toMatch(/CRASH running → restarting.*exited/s);
    await page.locator('#drawer-stderr pre', { hasText: 'demo: crashing' }).waitFor();
    // It comes back: the restart is in the history too.
    await page.locator('#drawer-history li', { hasText: 'restarting → running' }).waitFor();

    // Circuit transitions are in the history with their times; reset closes it from the drawer.
    await page.click('#backends tr[data-backend="counter"] button.link');
    await page.locator('#drawer[data-backend="counter"]').waitFor();
    let code: unknown;
    for (let i = 0; i < 10 && code !== 'CIRCUIT_OPEN'; i += 1)
      code = (await api('POST', '/call', { server: 'counter', tool: 'fail', arguments: {} })).body.code;
    expect(code).toBe('CIRCUIT_OPEN');
    await page.locator('#drawer-history li[data-kind="circuit"]', { hasText: 'circuit closed → open' }).waitFor();
    await page.locator('#drawer-actions button[data-action="reset"]:not([disabled])').click();
    await page.locator('#drawer-history li[data-kind="circuit"]', { hasText: 'circuit open → closed' }).waitFor();
    await page.click('#drawer-close');
    await page.locator('#drawer').waitFor({ state: 'hidden' });
  });

  it('the charts take a burst of calls', async () => {
    const line = page.locator('#charts [data-chart="calls"] path[data-backend="demo"]');
    await line.waitFor({ state: 'attached' });
    const before = Number(await line.getAttribute('data-calls'));
    await Promise.all(Array.from({ length: 30 }, (_, i) => api('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: `burst ${i}` } })));
    await expect.poll(async () => Number(await line.getAttribute('data-calls')), { timeout: 15_000 }).toBeGreaterThanOrEqual(before + 30);
    expect(await page.locator('#charts [data-chart="latency"] path[data-backend="demo"]').count()).toBe(2); // p50 and p95
    expect(await line.getAttribute('d')).toMatch(/^M/);
  });

  it('adds a backend from the form, shows a refusal as the API gives it, disables, enables and removes it', async () => {
    // The runtime-add policy applies: an env key that changes how code loads is refused.
    await page.fill('#add-form [name="name"]', 'extra');
    await page.fill('#add-form [name="command"]', 'node');
    await page.fill('#add-form [name="args"]', JSON.stringify([DEMO]));
    await page.fill('#add-form [name="env"]', 'NODE_OPTIONS=--require=/tmp/x.js');
    await page.click('#add-form button[type=submit]');
    await page.locator('#add-result[data-outcome="FORBIDDEN"]', { hasText: 'NODE_OPTIONS' }).waitFor();
    expect((await servers()).map((s) => s.name)).not.toContain('extra');

    await page.fill('#add-form [name="env"]', 'GREETING=hi');
    await page.click('#add-form button[type=submit]');
    await page.locator('#add-result[data-outcome="added"]', { hasText: 'added extra: running' }).waitFor();
    await page.locator('#backends tr[data-backend="extra"][data-status="running"]').waitFor();

    const row = page.locator('#manage-list li[data-backend="extra"]');
    await row.locator('button[data-action="disable"]').click();
    await page.locator('#backends tr[data-backend="extra"][data-status="stopped"]').waitFor();
    await row.locator('button[data-action="enable"]').click();
    await page.locator('#backends tr[data-backend="extra"][data-status="running"]').waitFor();
    await row.locator('button[data-action="remove"]').click();
    await page.locator('#backends tr[data-backend="extra"]').waitFor({ state: 'detached' });
    expect((await servers()).map((s) => s.name)).not.toContain('extra');
  });

  it('an agent token sees its backends only and no admin control', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const agent = await context.newPage();
      agent.setDefaultTimeout(15_000);
      await login(agent, AGENT);
      await agent.locator('#backends tr[data-backend="form"]').waitFor();
      await expect.poll(() => agent.locator('#backends tbody tr').count(), { timeout: 15_000 }).toBe(1);
      await agent.locator('#charts [data-chart="calls"] path[data-backend="form"]').waitFor({ state: 'attached' });
      expect(await agent.locator('#charts path[data-backend="demo"]').count()).toBe(0);
      // No lifecycle buttons, no add form, no management list, no actions or config in the drawer.
      expect(await agent.locator('#backends button[data-action]').count()).toBe(0);
      expect(await agent.locator('#manage-panel').isVisible()).toBe(false);
      await agent.click('#backends tr[data-backend="form"] button.link');
      await agent.locator('#drawer-history li').first().waitFor();
      expect(await agent.locator('#drawer-actions').count()).toBe(0);
      expect(await agent.locator('#drawer-config').count()).toBe(0);
      expect(await agent.locator('button[data-action]:visible, .admin-only:visible').count()).toBe(0);
      // Its playground lists only its backend's tools, and calls them.
      await agent.fill('#play-tool', 'form__refuse');
      await agent.locator('#play-form[data-tool="form__refuse"]').waitFor();
      expect(await agent.locator('#play-tools option[value="demo__add"]').count()).toBe(0);
      await agent.click('#play-call');
      await agent.locator('#play-result[data-status="isError"]').waitFor();
    } finally {
      await context.close();
    }
  });

  it('saves a screenshot of the page under load', async () => {
    // Load: calls on every backend, some failing, while the page refreshes.
    const load = Array.from({ length: 60 }, (_, i) =>
      api(
        'POST',
        '/call',
        i % 6 === 0
          ? { server: 'counter', tool: 'tool_error', arguments: {} }
          : { server: i % 2 ? 'demo' : 'form', tool: i % 2 ? 'echo' : 'shape', arguments: i % 2 ? { text: 'x' } : { title: 't', loud: false } },
      ),
    );
    await Promise.all(load);
    await page.click('#backends tr[data-backend="demo"] button.link');
    await page.locator('#drawer-history li[data-kind="crash"]').waitFor();
    await expect
      .poll(async () => Number(await page.locator('#charts [data-chart="calls"] path[data-backend="form"]').getAttribute('data-calls')), { timeout: 15_000 })
      .toBeGreaterThan(20);
    // docs/dashboard.png is this picture (copied by hand when the page changes).
    await page.setViewportSize({ width: 1800, height: 1100 });
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-33.png'), fullPage: true });
  });
});
