import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fixture, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #25 item 3: MCP Apps (`io.modelcontextprotocol/ui`) through the
 * gateway, in both protocol eras. A tool's `_meta.ui.resourceUri` (and the
 * deprecated flat `_meta["ui/resourceUri"]`), in its definition and in a
 * call's result, names the same URI that resources/list shows and
 * resources/read takes on the same endpoint: `ui://<server>/<path>` on /mcp,
 * the backend's own on /mcp/{server}. An app-only tool (visibility ["app"])
 * is listed and callable only on /mcp/{server} for a client that declares
 * the extension. Backends: the real example server
 * @modelcontextprotocol/server-basic-vanillajs (stdio) and apps-server.
 */

const UI = 'io.modelcontextprotocol/ui';
const MIME = 'text/html;profile=mcp-app';
const BASIC = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-basic-vanillajs', 'dist', 'index.js');
type Era = 'legacy' | 'modern';
const ERAS: Era[] = ['legacy', 'modern'];
let gw: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  gw = await startGateway(`
[[backends]]
name = "basic"
command = "node"
args = [${q(BASIC)}, "--stdio"]

[[backends]]
name = "apps"
command = "node"
args = [${q(fixture('apps-server'))}]
`);
  for (const name of ['basic', 'apps']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

/** A client of the given era on a path; `apps` declares the extension as an MCP Apps host does. */
async function connect(era: Era, path: string, apps = true): Promise<Client> {
  const capabilities = apps ? { extensions: { [UI]: { mimeTypes: [MIME] } } } : {};
  const client = new Client(
    { name: `apps-${era}`, version: '1' },
    era === 'modern' ? { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } } : { capabilities },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  clients.push(client);
  expect(client.getProtocolEra()).toBe(era);
  return client;
}

interface UiMeta {
  ui?: { resourceUri?: string; visibility?: string[] };
  'ui/resourceUri'?: string;
}

/** Reads a UI resource and checks that it comes back under the URI asked for, as the app's HTML. */
async function readsAsApp(client: Client, uri: string): Promise<string> {
  const { contents } = await client.readResource({ uri });
  expect(contents).toHaveLength(1);
  expect(contents[0]).toMatchObject({ uri, mimeType: MIME });
  return String((contents[0] as { text?: string }).text);
}

describe('issue 25: MCP Apps and 2025-11-25 tasks', () => {
  it("a task's result names its ui:// resource as the tool's plain result does", async () => {
    const Loose = z.looseObject({});
    for (const [path, name, uri] of [
      ['/mcp', 'apps__show', 'ui://apps/apps/detail.html'],
      ['/mcp/apps', 'show', 'ui://apps/detail.html'],
    ] as const) {
      const client = await connect('legacy', path);
      const { task } = (await client.request({ method: 'tools/call', params: { name, arguments: {}, task: { ttl: 60_000 } } }, Loose)) as {
        task: { taskId: string };
      };
      // tasks/result waits for the call's end.
      const result = await client.request({ method: 'tasks/result', params: { taskId: task.taskId } }, Loose);
      expect(result._meta, path).toMatchObject({ ui: { resourceUri: uri }, 'ui/resourceUri': uri });
      expect(await readsAsApp(client, uri)).toContain('detail');
    }
  });
});

describe.each(ERAS)('issue 25: MCP Apps through the gateway (%s era)', (era) => {
  it("the real Apps server's tool names a ui:// resource that resources/list shows and resources/read reads, on /mcp and /mcp/basic", async () => {
    for (const [path, name, uri] of [
      ['/mcp', 'basic__get-time', 'ui://basic/get-time/mcp-app.html'],
      ['/mcp/basic', 'get-time', 'ui://get-time/mcp-app.html'],
    ] as const) {
      const client = await connect(era, path);
      const tool = (await client.listTools()).tools.find((t) => t.name === name);
      const meta = tool?._meta as UiMeta | undefined;
      expect(meta?.ui?.resourceUri, path).toBe(uri);
      expect(meta?.['ui/resourceUri'], path).toBe(uri);
      expect((await client.listResources()).resources.map((r) => r.uri)).toContain(uri);
      expect(await readsAsApp(client, uri)).toMatch(/<html/i);
    }
    // The general /mcp form of the same resource reads too, answered under its ui:// name.
    const client = await connect(era, '/mcp');
    const { contents } = await client.readResource({ uri: 'stonegate://basic/ui://get-time/mcp-app.html' });
    expect(contents[0]?.uri).toBe('ui://basic/get-time/mcp-app.html');
  });

  it("a result's _meta names its ui:// resource the same way, and other _meta keys pass as they are", async () => {
    for (const [path, name, uri] of [
      ['/mcp', 'apps__show', 'ui://apps/apps/detail.html'],
      ['/mcp/apps', 'show', 'ui://apps/detail.html'],
    ] as const) {
      const client = await connect(era, path);
      const result = await client.callTool({ name, arguments: {} });
      expect(result._meta, path).toMatchObject({ ui: { resourceUri: uri }, 'ui/resourceUri': uri, 'io.stonegate.test/kept': 'as is' });
      expect(await readsAsApp(client, uri)).toContain('detail');
      const listed = (await client.listTools()).tools.find((t) => t.name === name)?._meta as UiMeta | undefined;
      expect(listed?.ui?.resourceUri).toBe(uri.replace('detail', 'view'));
    }
  });

  it('an app-only tool is listed and callable only on /mcp/{server} for a client that declares the extension', async () => {
    const host = await connect(era, '/mcp/apps');
    const listed = (await host.listTools()).tools.find((t) => t.name === 'refresh');
    expect((listed?._meta as UiMeta | undefined)?.ui?.visibility).toEqual(['app']);
    expect((await host.callTool({ name: 'refresh', arguments: {} })).content).toEqual([{ type: 'text', text: 'refresh' }]);

    for (const [path, name, apps] of [
      ['/mcp/apps', 'refresh', false],
      ['/mcp', 'apps__refresh', true],
      ['/mcp', 'apps__refresh', false],
    ] as const) {
      const client = await connect(era, path, apps);
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names, `${path} apps=${apps}`).not.toContain(name);
      expect(names).toContain(path === '/mcp' ? 'apps__plain' : 'plain');
      await expect(client.callTool({ name, arguments: {} }), `${path} apps=${apps}`).rejects.toMatchObject({ code: -32602 });
    }
  });

  it('gate_call and gate_call_async refuse an app-only tool, and gate_discover leaves it out', async () => {
    const client = await connect(era, '/mcp');
    const text = (result: Awaited<ReturnType<Client['callTool']>>): string => (result.content as { text: string }[])[0]?.text ?? '';
    for (const gate of ['gate_call', 'gate_call_async']) {
      const refused = await client.callTool({ name: gate, arguments: { server: 'apps', tool: 'refresh' } });
      expect(refused.isError, gate).toBe(true);
      expect(text(refused)).toMatch(/UNKNOWN_TOOL.*app-only/);
    }
    expect(text(await client.callTool({ name: 'gate_call', arguments: { server: 'apps', tool: 'plain' } }))).toBe('plain');
    const found = JSON.parse(text(await client.callTool({ name: 'gate_discover', arguments: { query: 'refreshes the view', server: 'apps' } }))) as {
      tools: { name: string }[];
    };
    expect(found.tools.map((t) => t.name)).not.toContain('refresh');
    expect(found.tools.map((t) => t.name)).toContain('show');
  });

  it("/mcp advertises the extension of the backend that does, and /mcp/{server} the backend's own", async () => {
    const capabilities = async (path: string) => {
      const client = await connect(era, path);
      return era === 'modern' ? client.getDiscoverResult()?.capabilities : client.getServerCapabilities();
    };
    expect((await capabilities('/mcp'))?.extensions).toEqual({ [UI]: {} });
    expect((await capabilities('/mcp/apps'))?.extensions).toEqual({ [UI]: {} });
    expect(await capabilities('/mcp/basic')).not.toHaveProperty('extensions');
  });
});
