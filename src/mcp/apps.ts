import type { CallToolResult, ClientCapabilities, Tool } from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import type { CatalogTool } from '../catalog/catalog.js';
import { GatewayError, rpcFailure } from '../errors.js';
import { toolOf } from './named-view.js';
import { prefixUri } from './resource-proxy.js';
import type { GatewaySurface } from './surface.js';
import type { View } from './view.js';

/*
 * MCP Apps (the `io.modelcontextprotocol/ui` extension, 2026-01-26) through
 * the gateway. A tool names the `ui://` resource that renders its results in
 * `_meta.ui.resourceUri` (or the deprecated flat `_meta["ui/resourceUri"]`;
 * OpenAI's Apps SDK says `_meta["openai/outputTemplate"]`), in its definition
 * and, for one call, in its result's `_meta`. On /mcp each of those URIs is
 * rewritten with prefixUri, the same URI resources/list shows and
 * resources/read takes (a `ui://` URI stays `ui://`: `ui://<server>/<rest>`);
 * on /mcp/{server} they are the backend's own.
 *
 * `_meta.ui.visibility` without "model" (say `["app"]`) makes a tool app-only:
 * only the view an Apps host renders for that server may call it. The gateway
 * cannot tell a view's call from a model's, so it lets a call through only
 * where a host can be holding the rule: on /mcp/{server} (one backend, as the
 * extension's "same server connection" wants) and for a client that declared
 * the extension. Elsewhere the tool is not listed and a tools/call of it is
 * refused: a client without the extension has no views, only a model, and on
 * /mcp a view of one backend could reach another backend's app-only tools.
 */

export const UI_EXTENSION = 'io.modelcontextprotocol/ui';

/** The `_meta` keys, besides `ui.resourceUri`, that name a tool's UI resource. */
const FLAT_URI_KEYS = ['ui/resourceUri', 'openai/outputTemplate'];

type Meta = Record<string, unknown>;

const isObject = (value: unknown): value is Meta => value !== null && typeof value === 'object' && !Array.isArray(value);

/** A `_meta` with every UI resource URI in it mapped; the same object when it has none. */
export function withUiUris(meta: Meta, map: (uri: string) => string): Meta {
  let out = meta;
  const ui = meta.ui;
  if (isObject(ui) && typeof ui.resourceUri === 'string') out = { ...out, ui: { ...ui, resourceUri: map(ui.resourceUri) } };
  for (const key of FLAT_URI_KEYS) {
    const uri = meta[key];
    if (typeof uri === 'string') out = { ...out, [key]: map(uri) };
  }
  return out;
}

/** Whether a tool's definition keeps it from the model: a `visibility` without "model". */
export function appOnly(definition: Tool): boolean {
  const ui = definition._meta?.ui;
  const visibility = isObject(ui) ? ui.visibility : undefined;
  return Array.isArray(visibility) && !visibility.includes('model');
}

/** Whether the client declared the extension (2025: at initialize; 2026-07-28: in the request's `_meta`). */
export function appsClient(capabilities: ClientCapabilities | undefined): boolean {
  const extensions = (capabilities as { extensions?: unknown } | undefined)?.extensions;
  return isObject(extensions) && extensions[UI_EXTENSION] !== undefined;
}

/** Whether a tool may be listed to and called by this client on this endpoint. */
function reachable(view: View, definition: Tool, capabilities: ClientCapabilities | undefined): boolean {
  return !appOnly(definition) || (view.single !== undefined && appsClient(capabilities));
}

/** gate_call and gate_call_async are a model's calls (gate tools are on /mcp only): an app-only tool is refused. */
export function refuseAppOnly(definition: Tool | undefined, server: string, tool: string): void {
  if (definition !== undefined && appOnly(definition)) {
    throw new GatewayError('UNKNOWN_TOOL', `Backend '${server}' has no tool '${tool}' for a model: it is app-only (MCP Apps visibility without "model")`);
  }
}

/** What this module reads of the gateway. */
export type AppsSources = Pick<GatewaySurface, 'catalog' | 'settled'>;

/** The catalog entry a tools/call name means on this endpoint. */
function entryOf(gateway: AppsSources, view: View, name: string): CatalogTool | undefined {
  return toolOf(gateway.catalog, view, name);
}

/** tools/list: app-only tools left out where they are not reachable; on /mcp, UI resource URIs prefixed like the backend's resources. */
export function appTools(gateway: AppsSources, view: View, tools: Tool[], capabilities: ClientCapabilities | undefined): Tool[] {
  const out: Tool[] = [];
  for (const tool of tools) {
    if (tool._meta === undefined) {
      out.push(tool);
      continue;
    }
    if (!reachable(view, tool, capabilities)) continue;
    const server = view.single === undefined ? toolOf(gateway.catalog, view, tool.name)?.server : undefined;
    out.push(server === undefined ? tool : { ...tool, _meta: withUiUris(tool._meta, (uri) => prefixUri(server, uri)) });
  }
  return out;
}

/**
 * tools/call around the gateway's own call: refuses an app-only tool where
 * it is not reachable (-32602, as a tool this client is not shown), and on
 * /mcp prefixes the UI resource URIs in the result's `_meta`.
 */
export async function appCall(
  gateway: AppsSources,
  view: View,
  name: unknown,
  capabilities: ClientCapabilities | undefined,
  call: () => Promise<CallToolResult>,
  gateTools: ReadonlySet<string>,
): Promise<CallToolResult> {
  if (typeof name !== 'string' || (view.single === undefined && gateTools.has(name))) return call();
  let entry = entryOf(gateway, view, name);
  if (entry === undefined) {
    await gateway.settled();
    entry = entryOf(gateway, view, name);
  }
  if (entry !== undefined && !reachable(view, entry.definition, capabilities)) {
    const where = view.single === undefined ? 'on /mcp/{server}' : 'here';
    throw rpcFailure(
      ProtocolErrorCode.InvalidParams,
      `Unknown tool: ${name} (app-only: MCP Apps visibility without "model"; only a client that declares ${UI_EXTENSION} may call it, ${where})`,
    );
  }
  const result = await call();
  return entry === undefined ? result : appResult(view, entry.server, result);
}

/** A backend's tools/call result (or a task's) as this endpoint shows it: on /mcp, with its `_meta`'s UI resource URIs prefixed. */
export function appResult<R extends { _meta?: unknown }>(view: View, server: string, result: R): R {
  if (view.single !== undefined || !isObject(result._meta)) return result;
  const meta = withUiUris(result._meta, (uri) => prefixUri(server, uri));
  return meta === result._meta ? result : { ...result, _meta: meta };
}
