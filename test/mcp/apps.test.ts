import type { Tool } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { type AppsSources, appOnly, appResult, appsClient, appTools, withUiUris } from '../../src/mcp/apps.js';
import { prefixUri, unprefixUri } from '../../src/mcp/resource-proxy.js';
import type { View } from '../../src/mcp/view.js';

/*
 * MCP Apps (src/mcp/apps.ts) in process: the /mcp names of ui:// URIs, which
 * `_meta` keys name a UI resource, what counts as app-only, and who is
 * shown an app-only tool.
 */

const UI = 'io.modelcontextprotocol/ui';
const input = { type: 'object' as const };
const tool = (name: string, meta?: Tool['_meta']): Tool => ({ name, inputSchema: input, ...(meta === undefined ? {} : { _meta: meta }) });
const view = (single?: string): View => ({ expose: 'all', servers: undefined, single, caller: undefined }) as unknown as View;
const gateway = { catalog: { byExposed: (name: string) => ({ server: name.split('__')[0] }) } } as unknown as AppsSources;

describe('ui:// URIs on /mcp', () => {
  it('keep their scheme, with the backend first, and come back whole', () => {
    expect(prefixUri('basic', 'ui://get-time/mcp-app.html')).toBe('ui://basic/get-time/mcp-app.html');
    expect(unprefixUri('ui://basic/get-time/mcp-app.html')).toEqual({ server: 'basic', uri: 'ui://get-time/mcp-app.html' });
    expect(unprefixUri('stonegate://basic/ui://get-time/mcp-app.html')).toEqual({ server: 'basic', uri: 'ui://get-time/mcp-app.html' });
  });

  it("other schemes keep the stonegate:// prefix; a ui:// URI without a backend segment is nobody's", () => {
    expect(prefixUri('demo', 'demo://readme')).toBe('stonegate://demo/demo://readme');
    expect(unprefixUri('stonegate://demo/demo://readme')).toEqual({ server: 'demo', uri: 'demo://readme' });
    expect(unprefixUri('ui://view.html')).toBeUndefined();
    expect(unprefixUri('ui:///view.html')).toBeUndefined();
  });
});

describe('withUiUris', () => {
  const map = (uri: string): string => `<${uri}>`;
  it('maps ui.resourceUri, the flat ui/resourceUri and openai/outputTemplate, and nothing else', () => {
    const meta = { ui: { resourceUri: 'ui://a', visibility: ['app'] }, 'ui/resourceUri': 'ui://a', 'openai/outputTemplate': 'ui://b', other: 'ui://c' };
    expect(withUiUris(meta, map)).toEqual({
      ui: { resourceUri: '<ui://a>', visibility: ['app'] },
      'ui/resourceUri': '<ui://a>',
      'openai/outputTemplate': '<ui://b>',
      other: 'ui://c',
    });
    expect(meta.ui.resourceUri).toBe('ui://a');
  });

  it('gives back the same object when nothing names a UI resource', () => {
    const meta = { ui: { visibility: ['model'] }, 'ui/resourceUri': 7 };
    expect(withUiUris(meta, map)).toBe(meta);
  });
});

describe('app-only tools', () => {
  it('are those whose visibility leaves out "model"', () => {
    expect(appOnly(tool('a', { ui: { visibility: ['app'] } }))).toBe(true);
    expect(appOnly(tool('a', { ui: { visibility: [] } }))).toBe(true);
    expect(appOnly(tool('a', { ui: { visibility: ['model', 'app'] } }))).toBe(false);
    expect(appOnly(tool('a', { ui: { resourceUri: 'ui://x' } }))).toBe(false);
    expect(appOnly(tool('a'))).toBe(false);
  });

  it('a client is an Apps host when it declares the extension', () => {
    expect(appsClient({ extensions: { [UI]: { mimeTypes: ['text/html;profile=mcp-app'] } } } as never)).toBe(true);
    expect(appsClient({ extensions: { other: {} } } as never)).toBe(false);
    expect(appsClient({})).toBe(false);
    expect(appsClient(undefined)).toBe(false);
  });

  it('are listed only on /mcp/{server} to an Apps host; /mcp prefixes the URIs of the rest', () => {
    const host = { extensions: { [UI]: {} } } as never;
    const single = [tool('show', { ui: { resourceUri: 'ui://v' } }), tool('refresh', { ui: { visibility: ['app'] } }), tool('plain')];
    expect(appTools(gateway, view('apps'), single, host).map((t) => t.name)).toEqual(['show', 'refresh', 'plain']);
    expect(appTools(gateway, view('apps'), single, {}).map((t) => t.name)).toEqual(['show', 'plain']);
    expect(appTools(gateway, view('apps'), single, host)[0]?._meta).toEqual({ ui: { resourceUri: 'ui://v' } });
    const all = single.map((t) => ({ ...t, name: `apps__${t.name}` }));
    const shown = appTools(gateway, view(), all, host);
    expect(shown.map((t) => t.name)).toEqual(['apps__show', 'apps__plain']);
    expect(shown[0]?._meta).toEqual({ ui: { resourceUri: 'ui://apps/v' } });
  });

  it("a result's _meta is rewritten on /mcp only", () => {
    const result = { content: [], _meta: { ui: { resourceUri: 'ui://d' } } };
    expect(appResult(view(), 'apps', result)._meta).toEqual({ ui: { resourceUri: 'ui://apps/d' } });
    expect(appResult(view('apps'), 'apps', result)).toBe(result);
    const bare: { content: never[]; _meta?: unknown } = { content: [] };
    expect(appResult(view(), 'apps', bare)).toBe(bare);
  });
});
