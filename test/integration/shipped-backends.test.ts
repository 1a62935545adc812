import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// The repository's own stonegate.toml: demo plus two third-party servers
// from npm, started from node_modules with no network.
describe('the shipped config', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(
      readFileSync(join(ROOT, 'stonegate.toml'), 'utf8')
        .replace(/^args = \["(dist|node_modules)/gm, `args = ["${ROOT}/$1`)
        .replace('"examples"]', `"${ROOT}/examples"]`),
    );
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'filesystem');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'memory');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'coord');
  });
  afterAll(stopAll);

  it('reports every backend healthy', async () => {
    const { status, body } = await gw.request('GET', '/health');
    expect(status).toBe(200);
    // The three configured backends and the built-in coordination backend.
    expect(body).toMatchObject({ status: 'ok', backends_total: 4, backends_healthy: 4, circuits_open: 0 });
  });

  it('lists the tools of all three backends in one catalog', async () => {
    const { body } = await gw.request('GET', '/tools');
    const tools = body.tools as { name: string; server: string; exposed_name: string; parameters: unknown }[];
    expect(body.total).toBe(tools.length);
    const names = new Set(tools.map((t) => `${t.server}/${t.name}`));
    for (const name of ['demo/echo', 'filesystem/read_text_file', 'filesystem/list_directory', 'memory/create_entities', 'memory/read_graph']) {
      expect(names).toContain(name);
    }
    expect(tools.find((t) => t.name === 'echo')?.exposed_name).toBe('demo__echo');
  });

  it('routes a call to demo', async () => {
    const { status, body } = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'through the gate' } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ server: 'demo', tool: 'echo', result: { content: [{ type: 'text', text: 'through the gate' }] } });
    expect(typeof body.duration_ms).toBe('number');
  });

  it('routes a call to the filesystem server', async () => {
    const { status, body } = await gw.request('POST', '/call', {
      server: 'filesystem',
      tool: 'read_text_file',
      arguments: { path: join(ROOT, 'examples', 'hello.txt') },
    });
    expect(status).toBe(200);
    const result = body.result as { content: { text: string }[]; isError?: boolean };
    expect(result.isError).toBeFalsy();
    expect(result.content[0]?.text).toBe(readFileSync(join(ROOT, 'examples', 'hello.txt'), 'utf8'));
  });

  it('routes calls to the memory server, which keeps its file in data_dir', async () => {
    const created = await gw.request('POST', '/call', {
      server: 'memory',
      tool: 'create_entities',
      arguments: { entities: [{ name: 'stonegate', entityType: 'project', observations: ['routes MCP calls'] }] },
    });
    expect(created.status).toBe(200);
    const { body } = await gw.request('POST', '/call', { server: 'memory', tool: 'read_graph', arguments: {} });
    const text = (body.result as { content: { text: string }[] }).content[0]?.text ?? '';
    expect(JSON.parse(text).entities).toEqual([{ name: 'stonegate', entityType: 'project', observations: ['routes MCP calls'] }]);
    expect(readFileSync(join(gw.dir, 'data', 'memory.jsonl'), 'utf8')).toContain('routes MCP calls');
  });

  it('finds read_text_file when discovering "read file"', async () => {
    const { body } = await gw.request('GET', '/discover?query=read%20file&limit=3');
    const tools = body.tools as { server: string; name: string }[];
    expect(tools[0]).toMatchObject({ server: 'filesystem' });
    expect(tools.map((t) => t.name)).toContain('read_text_file');
  });

  it('serves a tool schema and the backend list', async () => {
    const schema = await gw.request('GET', '/schema/demo/echo');
    expect(schema.body).toMatchObject({ type: 'object', properties: { text: { type: 'string' } } });
    const { body } = await gw.request('GET', '/server/list');
    const servers = body.servers as { name: string; status: string; circuit: string; tool_count: number; pool: { size: number } }[];
    expect(servers.map((s) => s.name)).toEqual(['demo', 'filesystem', 'memory', 'coord']);
    for (const s of servers) {
      expect(s.status).toBe('running');
      expect(s.circuit).toBe('closed');
      expect(s.tool_count).toBeGreaterThan(0);
      expect(s.pool.size).toBe(1);
    }
  });
});
