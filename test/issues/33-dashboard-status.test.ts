import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium.js';
import { demoBackend, eventually, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #33 item 5: the page shows a backend's OAuth status — `needs_auth`
 * with what to do (for client_credentials: check the client's id and
 * secret) — and the outcome of the last reload of the config file: ok with
 * its revision, or refused with why (GET /config's reason, for an admin),
 * until a good file is loaded again. The OAuth-protected remote here names
 * another resource in its metadata, so no token can be had for it.
 */

const CHROMIUM = chromiumOrSkip('test/issues/33-dashboard-status.test.ts');

let remote: Server;
let remoteUrl: string;
let gateway: RunningGateway;
let browser: Browser;
let page: Page;

function startRemote(): Promise<void> {
  remote = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/.well-known/oauth-protected-resource')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource: 'https://elsewhere.example/mcp', authorization_servers: ['http://127.0.0.1:9/'] }));
      return;
    }
    res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${remoteUrl}/.well-known/oauth-protected-resource/mcp"` });
    res.end();
  });
  return new Promise((resolve) =>
    remote.listen(0, '127.0.0.1', () => {
      remoteUrl = `http://127.0.0.1:${(remote.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

describe.skipIf(CHROMIUM === undefined)('#33 the dashboard shows OAuth status and reload status', () => {
  beforeAll(async () => {
    await startRemote();
    gateway = await startGateway(
      `${demoBackend()}
[[backends]]
name = "locked"
transport = "http"
url = "${remoteUrl}/mcp"
oauth = { grant = "client_credentials", client_id = "stonegate", client_secret = "\${LOCKED_SECRET}" }
`,
      { env: { LOCKED_SECRET: 'not-the-secret-8d1f' } },
    );
    await eventually(async () => (await serverRow(gateway, 'locked')).status === 'needs_auth', 20_000);
    browser = await launchChromium(CHROMIUM as string);
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(15_000);
    await page.goto(`${gateway.url}/ui/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopAll();
    remote?.close();
  });

  it('a client_credentials backend in needs_auth says to check its client id and secret, in its row and its detail', async () => {
    const row = page.locator('#backends tr[data-backend="locked"][data-status="needs_auth"]');
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toContain('needs_auth: the authorization server refused the client; check client_id/secret');
    await row.locator('button.link').click();
    await page.locator('#drawer-summary', { hasText: 'check client_id/secret' }).waitFor();
    expect(await page.locator('#drawer-error pre.error').textContent()).toContain('locked'); // last_error says why
    await page.click('#drawer-close');
  });

  it('shows the last reload: ok, then refused with why, then ok again', async () => {
    await page.locator('#reload.state-ok', { hasText: 'config ok' }).waitFor();
    const file = join(gateway.dir, 'stonegate.toml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}\n[gateway]\nrequest_timeout = "soon"\n`);
    expect((await gateway.request('POST', '/config/reload', {})).status).toBe(422);
    await page.locator('#reload.state-error', { hasText: 'config error' }).waitFor();
    await expect.poll(() => page.locator('#reload').textContent(), { timeout: 15_000 }).toContain('request_timeout');
    writeFileSync(file, good);
    expect((await gateway.request('POST', '/config/reload', {})).status).toBe(200);
    await page.locator('#reload.state-ok', { hasText: 'config ok' }).waitFor();
  });
});
