import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 17: `total` in /discover and /log is the number returned,
// so a client could not tell that the limit cut the answer. /discover (and
// gate_discover) now say how many tools matched, /log whether more rows match.

afterAll(stopAll);

describe('issue 19.17: /discover and gate_discover say how many matched', () => {
  let gw: RunningGateway;
  let demoTools: number;

  beforeAll(async () => {
    gw = await startGateway(demoBackend());
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    demoTools = (await gw.request('GET', '/tools/demo')).body.total as number;
    expect(demoTools).toBeGreaterThan(2);
  });

  it('GET /discover with a limit below the hits: total is what was returned, matched every hit, has_more true', async () => {
    const cut = await gw.request('GET', '/discover?limit=1');
    expect(cut.body).toMatchObject({ total: 1, matched: demoTools, has_more: true });
    expect(cut.body.tools).toHaveLength(1);
    const all = await gw.request('GET', '/discover?limit=200');
    expect(all.body).toMatchObject({ total: demoTools, matched: demoTools, has_more: false });
  });

  it('gate_discover says the same', async () => {
    const client = new Client({ name: 'issue-19', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    try {
      const found = await client.callTool({ name: 'gate_discover', arguments: { query: '', limit: 1 } });
      expect(found.structuredContent).toMatchObject({ total: 1, matched: demoTools, has_more: true });
    } finally {
      await client.close();
    }
  });
});

describe.each([
  ['the audit log', ''],
  ['the in-memory call log', '[audit]\nenabled = false\n'],
])('issue 19.17: GET /log says whether more rows match (%s)', (_label, audit) => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(`${audit}\n${demoBackend()}`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    for (const text of ['a', 'b', 'c']) expect((await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text } })).status).toBe(200);
  });

  it('has_more is true when the limit cut the rows and false when it did not', async () => {
    const cut = await gw.request('GET', '/log?limit=2');
    expect(cut.body).toMatchObject({ total: 2, has_more: true });
    expect(cut.body.calls).toHaveLength(2);
    const exact = await gw.request('GET', '/log?limit=3');
    expect(exact.body).toMatchObject({ total: 3, has_more: false });
    const filtered = await gw.request('GET', '/log?limit=1&server=demo&status=success');
    expect(filtered.body).toMatchObject({ total: 1, has_more: true });
    const none = await gw.request('GET', '/log?server=nope');
    expect(none.body).toMatchObject({ total: 0, has_more: false });
  });
});
