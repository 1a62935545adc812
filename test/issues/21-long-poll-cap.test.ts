import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Progress } from '@modelcontextprotocol/client';
import { Client, DEFAULT_REQUEST_TIMEOUT_MSEC, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, describe, expect, it } from 'vitest';
import { coordOptions } from '../../backends/coord/options.js';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue 21 item 12 (long polls): the seed's examples call
 * mux_poll({agent_id, timeout: 60}) and mux_state_watch({…, timeout: 60}),
 * and the official SDK client gives up on a request after 60 s by default:
 * with poll_timeout_max = 120 the call waited its full 60 s and the client
 * failed with a request timeout. Over MCP the wait is now capped at
 * mcp_poll_timeout_max (default 50 s), and a call that carries a
 * progressToken gets progress notifications while it waits — through the
 * gateway too.
 */

const scratch = mkdtempSync(join(tmpdir(), 'stonegate-long-poll-'));
const clients = new Set<Client>();
afterAll(async () => {
  await Promise.all([...clients].map((c) => c.close().catch(() => undefined)));
  await stopAll();
  await stopCoords();
  rmSync(scratch, { recursive: true, force: true });
});

/** An SDK client with its defaults (60 s request timeout) on an MCP endpoint. */
async function sdkClient(url: string): Promise<Client> {
  const client = new Client({ name: 'seed-example', version: '1.0.0' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.add(client);
  return client;
}

/** The surfaces under test: the gateway's /mcp (tools prefixed coord__) and the standalone /mcp. */
interface Surface {
  mcp: string;
  prefix: string;
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function gateway(coordination: Record<string, number> = {}): Promise<Surface> {
  const gw = await startGateway(coordToml(coordination));
  await coordReady(gw);
  return { mcp: `${gw.url}/mcp`, prefix: 'coord__', post: (path, body) => gw.request('POST', `/coord${path}`, body) };
}

async function standalone(name: string, coordination: Record<string, number> = {}): Promise<Surface> {
  const opts = Object.entries(coordination).flatMap(([key, value]) => ['--opt', `${key}=${value}`]);
  const coord = await startCoord(join(scratch, `${name}.db`), opts);
  return { mcp: `${coord.url}/mcp`, prefix: '', post: coord.post };
}

async function register(surface: Surface, agent: string): Promise<void> {
  expect((await surface.post('/agent/register', { agent_id: agent, role: 'r' })).status).toBe(200);
}

/** The cap and the client timeout of the real calls below, in the same relation as the defaults (50 s cap, the SDK's 60 s), scaled down. */
const CAP_S = 2;
const CLIENT_TIMEOUT_MS = 4_000;

describe("the seed's timeout: 60 examples with the SDK client's default request timeout", () => {
  it("the default MCP cap is below the SDK clients' default request timeout", () => {
    expect(coordOptions().mcp_poll_timeout_max * 1000).toBeLessThan(DEFAULT_REQUEST_TIMEOUT_MSEC);
  });

  describe.concurrent('a call with timeout 60 answers at the cap, before a client timeout above the cap', () => {
    for (const [name, open] of [
      ['gateway', () => gateway({ mcp_poll_timeout_max: CAP_S })],
      ['standalone', () => standalone('seed-60', { mcp_poll_timeout_max: CAP_S })],
    ] as const) {
      it(`${name}: mux_poll and mux_state_watch with timeout 60 answer instead of timing out`, async () => {
        const surface = await open();
        await register(surface, 'manager');
        const client = await sdkClient(surface.mcp);
        // The client gives up after CLIENT_TIMEOUT_MS, as the seed's clients do after the SDK's default 60 s.
        const options = { timeout: CLIENT_TIMEOUT_MS };
        const [poll, watch] = await Promise.all([
          client.callTool({ name: `${surface.prefix}mux_poll`, arguments: { agent_id: 'manager', timeout: 60 } }, options),
          client.callTool({ name: `${surface.prefix}mux_state_watch`, arguments: { key: 'deploy', timeout: 60 } }, options),
        ]);
        const polled: CoordResult = coordResult(poll);
        expect(polled.isError, polled.text).toBe(false);
        expect(polled.body.messages).toEqual([]);
        const watched = coordResult(watch);
        expect(watched.isError, watched.text).toBe(false);
        expect(watched.body.changed).toBe(false);
      });
    }
  });
});

describe('progress while a long poll waits', () => {
  for (const [name, open] of [
    ['gateway (forwarded from the backend)', () => gateway({ progress_interval: 0.2 })],
    ['standalone', () => standalone('progress', { progress_interval: 0.2 })],
  ] as const) {
    it(`${name}: a mux_poll with a progressToken gets progress while it waits, then its message`, async () => {
      const surface = await open();
      await register(surface, 'listener');
      await register(surface, 'talker');
      const client = await sdkClient(surface.mcp);
      const seen: Progress[] = [];
      let firstProgress: () => void = () => undefined;
      const progressed = new Promise<void>((resolve) => (firstProgress = resolve));
      const polling = client.callTool(
        { name: `${surface.prefix}mux_poll`, arguments: { agent_id: 'listener', timeout: 40 } },
        {
          onprogress: (progress) => {
            seen.push(progress);
            firstProgress();
          },
        },
      );
      // The poll is still waiting when its progress arrives: only then is the message sent.
      await progressed;
      expect((await surface.post('/msg/send', { from: 'talker', to: 'listener', content: 'go' })).status).toBe(200);
      const polled = coordResult(await polling);
      expect(polled.isError, polled.text).toBe(false);
      expect((polled.body.messages as { content: string }[]).map((m) => m.content)).toEqual(['go']);
      expect(seen[0]).toMatchObject({ progress: 1 });
      expect(seen[0]?.message).toMatch(/^Still waiting after \d+ s$/);
    });
  }

  it('a call without a progressToken gets no progress and is answered as before', async () => {
    const surface = await standalone('no-progress', { progress_interval: 0.1, mcp_poll_timeout_max: 0.5 });
    await register(surface, 'quiet');
    const client = await sdkClient(surface.mcp);
    const notifications: string[] = [];
    client.fallbackNotificationHandler = async (n) => {
      notifications.push(n.method);
    };
    // Capped at 0.5 s over MCP: a 30 s poll answers empty well within this test's time.
    const polled = coordResult(await client.callTool({ name: 'mux_poll', arguments: { agent_id: 'quiet', timeout: 30 } }));
    expect(polled.body.messages).toEqual([]);
    expect(notifications).not.toContain('notifications/progress');
  });
});
