import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #28: the two halves together — a view edited in the file applies on the next request, without a restart.

afterEach(stopAll);

const NO_COORD = '\n[coordination]\nenabled = false\n';

function save(gw: RunningGateway, toml: string): void {
  const file = join(gw.dir, 'stonegate.toml');
  writeFileSync(`${file}.tmp`, `${toml}${NO_COORD}`);
  renameSync(`${file}.tmp`, file);
}

const view = (include: string): string => `\n[[views]]\nname = "narrow"\ninclude = [${JSON.stringify(include)}]\n`;

async function toolsOf(gw: RunningGateway, path: string): Promise<string[]> {
  const client = new Client({ name: 'reload-views-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

describe('hot reload of a view (#28)', () => {
  it('a view whose include changes in the file shows the new set on the next session, and an excluded tool is refused', async () => {
    const gw = await startGateway(`${demoBackend('a')}\n${demoBackend('b')}${view('a__*')}`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'b');
    const before = await toolsOf(gw, '/views/narrow/mcp');
    expect(before.some((n) => n.startsWith('a__'))).toBe(true);
    expect(before.some((n) => n.startsWith('b__'))).toBe(false);

    const mark = gw.logs.length;
    save(gw, `${demoBackend('a')}\n${demoBackend('b')}${view('b__*')}`);
    await gw.waitForLog((l) => l.msg === 'config reloaded' && gw.logs.indexOf(l) >= mark);

    const after = await toolsOf(gw, '/views/narrow/mcp');
    expect(after.some((n) => n.startsWith('b__'))).toBe(true);
    expect(after.some((n) => n.startsWith('a__'))).toBe(false);
    const refused = await gw.request('POST', '/call?view=narrow', { server: 'a', tool: 'echo', arguments: { text: 'x' } });
    expect(refused.status).toBe(403);
  });
});
