import { describe, expect, it } from 'vitest';
import type { CatalogTool } from '../../src/catalog/catalog.js';
import { type ViewConfig, ViewSchema } from '../../src/config/views-schema.js';
import { selectView } from '../../src/mcp/named-view.js';

// Issue #28 item 2 beside item 1 (hot reload): a view reads the config of the moment, so a reload that swaps it applies to open sessions.

const tool = (server: string, name: string): CatalogTool => ({ server, name, exposed: `${server}__${name}`, description: name }) as CatalogTool;

describe('named views follow the config they are read from', () => {
  it('a swapped config changes what an existing view shows and names; a removed view shows nothing', () => {
    let views: readonly ViewConfig[] = [ViewSchema.parse({ name: 'v', exclude: ['demo__sleep'] })];
    const view = selectView(() => views, 'v', undefined);
    expect(view?.shows(tool('demo', 'sleep'))).toBe(false);
    expect(view?.shows(tool('demo', 'echo'))).toBe(true);
    views = [ViewSchema.parse({ name: 'v', exclude: ['demo__echo'], tools: { demo__sleep: { name: 'nap' } } })];
    expect(view?.shows(tool('demo', 'sleep'))).toBe(true);
    expect(view?.nameOf(tool('demo', 'sleep'))).toBe('nap');
    expect(view?.exposedOf('demo__sleep')).toBeUndefined();
    expect(view?.shows(tool('demo', 'echo'))).toBe(false);
    views = [];
    expect(view?.shows(tool('demo', 'sleep'))).toBe(false);
    expect(() => selectView(() => views, 'v', undefined)).toThrow(/No view named 'v'/);
  });

  it('a catalog tool whose exposed name a rename took is hidden; the renamed tool answers to the new name only', () => {
    const views = [ViewSchema.parse({ name: 'v', tools: { demo__echo: { name: 'other__echo' } } })];
    const view = selectView(() => views, 'v', undefined);
    expect(view?.shows(tool('other', 'echo'))).toBe(false);
    expect(view?.shows(tool('demo', 'echo'))).toBe(true);
    expect(view?.exposedOf('other__echo')).toBe('demo__echo');
    expect(view?.exposedOf('demo__echo')).toBeUndefined();
  });

  it('a token bound to a view gets it by default and is refused another', () => {
    const views = [ViewSchema.parse({ name: 'a' }), ViewSchema.parse({ name: 'b' })];
    const identity = { name: 't', role: 'agent', servers: undefined, rateLimit: 0, burst: 1, maxConcurrent: 0, view: 'a' } as const;
    expect(selectView(() => views, undefined, identity)?.name).toBe('a');
    expect(() => selectView(() => views, 'b', identity)).toThrow(/bound to view 'a'/);
    expect(selectView(() => views, undefined, { ...identity, view: undefined })).toBeUndefined();
  });
});
