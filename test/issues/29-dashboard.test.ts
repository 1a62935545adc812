import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium.js';
import { coordReady } from '../helpers/coord-harness.js';
import { ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #29 item 4 and its demo: the dashboard's coordination section in a
 * real browser (Debian's chromium, headless, through playwright-core) while
 * examples/coord-demo/demo.mjs runs against a real gateway with tokens. The
 * demo runs with --step, one step per line on its stdin, so the page is
 * checked at each stage: the agents and their states, the thread with its
 * participants and every layer of its conflict score, the proposal, the
 * resolution — each shown as it happens, without a reload, from one
 * /coord/events stream (no polling). An agent token's page leaves out the
 * thread it does not take part in. Screenshot: test-artifacts/coord-dashboard.png.
 */

const CHROMIUM = chromiumOrSkip('test/issues/29-dashboard.test.ts');

const ADMIN = 'cdash-admin-token-5a1f0c';
const CAROL = 'cdash-carol-token-93be27';
const CHANNEL = 'coord-demo-ui';

const TOML = `
[coordination]
enabled = true

[[auth.tokens]]
name = "operator"
role = "admin"
token = "\${CDASH_ADMIN}"

[[auth.tokens]]
name = "carol"
token = "\${CDASH_CAROL}"
`;

let gateway: RunningGateway;
let browser: Browser;
let page: Page;
let demo: ChildProcessWithoutNullStreams | undefined;
const requests: string[] = [];

/** The demo with --step: `reached(text)` resolves at its first stdout line containing text; `step()` lets it go on. */
function startDemo(): { reached: (text: string) => Promise<string>; step: () => void; exited: Promise<number | null>; output: string[] } {
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'coord-demo', 'demo.mjs'), '--step'], {
    cwd: ROOT,
    env: { ...process.env, STONEGATE_URL: gateway.url, STONEGATE_TOKEN: ADMIN, RUN_ID: 'ui' },
  });
  demo = child;
  const output: string[] = [];
  const waiters: { text: string; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    output.push(line);
    for (const w of waiters.splice(0)) {
      if (line.includes(w.text)) w.resolve(line);
      else waiters.push(w);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => output.push(`stderr: ${chunk.toString()}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    reached: (text) => {
      const seen = output.find((line) => line.includes(text));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ text, resolve }));
    },
    step: () => child.stdin.write('\n'),
    exited,
    output,
  };
}

async function signIn(target: Page, token: string): Promise<void> {
  await target.goto(`${gateway.url}/ui/`);
  await target.locator('#token-form').waitFor({ state: 'visible' });
  await target.fill('#token-input', token);
  await target.click('#token-form button[type=submit]');
  await target.locator('#coord-stream', { hasText: '(live)' }).waitFor();
}

describe.skipIf(CHROMIUM === undefined)('the coordination dashboard and the demo (issue #29)', () => {
  beforeAll(async () => {
    gateway = await startGateway(TOML, { env: { CDASH_ADMIN: ADMIN, CDASH_CAROL: CAROL } });
    await coordReady(gateway);
    browser = await launchChromium(CHROMIUM as string);
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.setDefaultTimeout(15_000);
    page.on('request', (request) => requests.push(new URL(request.url()).pathname));
  }, 60_000);

  afterAll(async () => {
    if (demo !== undefined && demo.exitCode === null) demo.kill();
    await browser?.close();
    await stopAll();
  });

  it('shows the two agents, their thread, its participants and scores, and the settlement as the demo runs, without a reload', async () => {
    await signIn(page, ADMIN);
    // A mark that a reload would wipe.
    await page.evaluate('window.stillTheSamePage = true');
    const run = startDemo();
    const channel = page.locator(`.coord-channel[data-channel="${CHANNEL}"]`);
    const agent = (id: string) => channel.locator(`.coord-agents li[data-agent="${id}"]`);

    await run.reached('[enter] next: alice and bob register');
    run.step();
    await run.reached('[enter] next: alice starts');
    await agent('alice').waitFor();
    await agent('bob').waitFor();
    expect(await agent('alice').getAttribute('data-state')).toBe('idle');

    run.step();
    await run.reached('[enter] next: bob wants');
    await channel.locator('.coord-agents li[data-agent="alice"][data-state="working"][data-file="src/auth/session.ts"]').waitFor();
    await channel.locator('.coord-claims li[data-agent="alice"]', { hasText: 'Move sessions to Redis' }).waitFor();

    run.step();
    await run.reached('[enter] next: alice is told');
    const thread = channel.locator('.coord-threads li.coord-thread[data-status="open"]');
    await thread.waitFor();
    const threadId = await thread.getAttribute('data-thread');
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await thread.getAttribute('data-participants')).toBe('bob,alice');
    expect(await thread.locator('.coord-participants').textContent()).toBe('participants: bob, alice');
    // The conflict score of the two claims with every layer that matched.
    const score = thread.locator('.coord-scores > li[data-score="100"][data-layer="same_file"]');
    await score.waitFor();
    expect(await score.locator('.coord-score').textContent()).toBe('bob ↔ alice: 100 same_file');
    expect(
      await score.locator('.coord-layers li').evaluateAll((items) => items.map((li) => `${li.getAttribute('data-layer')} ${li.getAttribute('data-score')}`)),
    ).toEqual(['same_file 100', 'recent_edit 100', 'module 30']);
    await channel.locator(`.coord-agents li[data-agent="bob"][data-state="waiting"][data-thread="${threadId}"]`, { hasText: 'waiting for alice' }).waitFor();
    // Its current thread named by subject.
    expect(await agent('bob').locator('.coord-detail').textContent()).toBe(
      `waiting for alice, in thread ${threadId} · thread "Conflict on src/auth/** in github.com/acme/shop"`,
    );
    await page.locator('#coord-summary', { hasText: '1 waiting' }).waitFor();
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'coord-dashboard.png'), fullPage: true });

    run.step();
    await run.reached('[enter] next: bob is told');
    const proposed = channel.locator(`li.coord-thread[data-thread="${threadId}"][data-status="proposed"]`);
    await proposed.waitFor();
    await proposed.locator('.coord-proposal', { hasText: 'proposal by alice: I keep src/auth/session.ts' }).waitFor();
    // The thread's messages come from the stream as they are posted.
    await proposed.locator('.coord-thread-messages li', { hasText: 'alice (proposal): I keep' }).waitFor();
    await channel.locator(`.coord-agents li[data-agent="alice"][data-state="working"][data-thread="${threadId}"]`).waitFor();

    run.step();
    expect(await run.exited, run.output.join('\n')).toBe(0);
    const resolved = channel.locator(`li.coord-thread[data-thread="${threadId}"][data-status="resolved"]`);
    await resolved.waitFor();
    await resolved.locator('.coord-resolution', { hasText: 'resolved (consensus): I keep src/auth/session.ts' }).waitFor();
    expect(await resolved.locator('.coord-participants').textContent()).toBe('participants: bob ✓, alice ✓');
    expect(await resolved.locator('.coord-scores > li').count()).toBe(1); // both claims are still live
    await channel.locator('.coord-agents li[data-agent="bob"][data-state="working"][data-file="src/auth/user.ts"]').waitFor();

    // Shown without a reload, from one event stream: no second stream, none of the old panel's polled routes.
    expect(await page.evaluate('window.stillTheSamePage')).toBe(true);
    expect(requests.filter((p) => p === '/coord/events')).toHaveLength(1);
    expect(requests.filter((p) => ['/coord/stats', '/coord/agent/discover', '/coord/task/list', '/coord/claim/list'].includes(p))).toEqual([]);
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'coord-dashboard-settled.png'), fullPage: true });
  });

  it("an agent token's page shows the channel's agents but not a thread it does not take part in", async () => {
    const registered = await fetch(`${gateway.url}/coord/agent/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CAROL}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent_id: 'carol', role: 'qa', channel: CHANNEL }),
    });
    expect(registered.status).toBe(200);
    const context = await browser.newContext();
    try {
      const carolPage = await context.newPage();
      carolPage.setDefaultTimeout(15_000);
      await signIn(carolPage, CAROL);
      const channel = carolPage.locator(`.coord-channel[data-channel="${CHANNEL}"]`);
      for (const id of ['alice', 'bob', 'carol']) await channel.locator(`.coord-agents li[data-agent="${id}"]`).waitFor();
      await channel.locator('.coord-threads li', { hasText: 'none that carol takes part in' }).waitFor();
      expect(await carolPage.locator('li.coord-thread').count()).toBe(0);
      await carolPage.locator('#coord-summary', { hasText: 'as carol' }).waitFor();
      // A state change reaches her page from the stream too.
      await fetch(`${gateway.url}/coord/agent/state`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CAROL}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'carol', state: 'blocked', waiting_for: 'a review' }),
      });
      await channel.locator('.coord-agents li[data-agent="carol"][data-state="blocked"]', { hasText: 'blocked on a review' }).waitFor();
    } finally {
      await context.close();
    }
  });
});
