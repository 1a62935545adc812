import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 item 1: the 2026-07-28 era needs no session store. Two gateways
 * with the same configuration (each its own data dir) stand behind a plain
 * round-robin proxy that sends every request to the next gateway in turn; a
 * client pinned to 2026-07-28 lists, calls, reads and gets prompts through
 * it, every answer succeeds, both gateways served calls, and no answer ever
 * carried an Mcp-Session-Id.
 */

interface Proxy {
  url: string;
  /** Requests forwarded to each target, by index. */
  served: number[];
  /** Every Mcp-Session-Id seen in an answer. */
  sessionIds: string[];
  close(): Promise<void>;
}

/** A loopback round-robin HTTP proxy: each request to the next target; status, headers and body (SSE too) piped back. */
async function roundRobin(targets: string[]): Promise<Proxy> {
  const served = targets.map(() => 0);
  const sessionIds: string[] = [];
  let next = 0;
  const server: Server = createServer((req, res) => {
    const index = next++ % targets.length;
    served[index] = (served[index] ?? 0) + 1;
    const target = new URL(req.url ?? '/', targets[index]);
    const upstream = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      const id = answer.headers['mcp-session-id'];
      if (id !== undefined) sessionIds.push(String(id));
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    sessionIds,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let gateways: RunningGateway[];
let proxy: Proxy;

beforeAll(async () => {
  const config = `${demoBackend()}\n`;
  gateways = await Promise.all([startGateway(config), startGateway(config)]);
  await Promise.all(gateways.map((gw) => gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo')));
  proxy = await roundRobin(gateways.map((gw) => gw.url));
});
afterAll(async () => {
  await proxy?.close();
  await stopAll();
});

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

async function totalCalls(gw: RunningGateway): Promise<number> {
  return (await gw.request('GET', '/stats')).body.total_calls as number;
}

describe('issue 23.1: two gateways behind a round-robin proxy serve one 2026-07-28 client', () => {
  it('every request succeeds wherever it lands, both gateways serve calls, and no session id is minted', async () => {
    const client = new Client({ name: 'round-robin', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`)));
    try {
      expect(client.getProtocolEra()).toBe('modern');
      let made = 0;
      for (let round = 0; round < 3; round++) {
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('demo__echo');
        for (const word of ['one', 'two']) {
          expect(text(await client.callTool({ name: 'demo__echo', arguments: { text: `${word} ${round}` } }))).toBe(`${word} ${round}`);
        }
        const read = await client.readResource({ uri: 'stonegate://demo/demo://readme' });
        expect(read.contents[0]?.uri).toBe('stonegate://demo/demo://readme');
        expect((await client.getPrompt({ name: 'demo__greet', arguments: { name: `Ada ${round}` } })).messages.length).toBeGreaterThan(0);
        made += 5;
      }
      expect(made).toBeGreaterThanOrEqual(10);
    } finally {
      await client.close();
    }
    expect(proxy.served.every((n) => n >= 5)).toBe(true);
    const calls = await Promise.all(gateways.map(totalCalls));
    expect(calls.every((n) => n > 0)).toBe(true);
    expect(calls[0]! + calls[1]!).toBe(6);
    expect(proxy.sessionIds).toEqual([]);
  });
});
