import type { Implementation, Result, ServerCapabilities } from '@modelcontextprotocol/server';
import { ProtocolErrorCode, Server } from '@modelcontextprotocol/server';
import { rpcFailure } from '../errors.js';
import { tracing } from '../telemetry/telemetry.js';
import { VERSION } from '../version.js';
import { appResult, appTools } from './apps.js';
import { cacheHintsFor } from './cache-hints.js';
import { type CoordPushSources, coordPush, withChannel } from './coord-push.js';
import { registerResourceProxy } from './resource-proxy.js';
import type { GatewaySurface } from './surface.js';
import { registerTaskMethods, withTasksExtension } from './task-extension.js';
import { taskRequests } from './task-handlers.js';
import { downstreamOf, type Era, setSessionLogLevel, toolCallHandler } from './tool-call.js';
import { listTools } from './tool-list.js';
import { sees, type View } from './view.js';

/** What this module reads and calls of the gateway. */
export type SessionServerSources = Pick<
  GatewaySurface,
  'catalog' | 'config' | 'dispatch' | 'health' | 'logger' | 'router' | 'security' | 'serverList' | 'sessions' | 'settled' | 'storeError' | 'supervisor'
> &
  CoordPushSources;

// Tasks (2025-11-25): a task-augmented tools/call becomes an async call of
// the dispatch table; tasks/* are answered from it.
const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

const GATEWAY_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  tasks: TASKS_CAPABILITY,
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  completions: {},
  logging: {},
};

/**
 * A 2026-07-28 server's capabilities: no 2025 `tasks` (tasks/* are not
 * methods of that era). `resources.subscribe` stays: in that era it says
 * that subscriptions/listen honours `resourceSubscriptions` (the method
 * resources/subscribe itself is gone, and the SDK answers it 404).
 */
function modernCapabilities(capabilities: ServerCapabilities): ServerCapabilities {
  const { tasks: _tasks, ...rest } = capabilities;
  return rest;
}

/**
 * The extensions `/mcp` advertises: every extension a backend the view sees
 * advertised in its capabilities, so a client that negotiates one (MCP
 * Apps' `io.modelcontextprotocol/ui`, say) learns that some tool behind the
 * gateway speaks it. An extension two backends advertise with different
 * settings keeps the first backend's, by backend name. Undefined when none.
 */
export function extensionsOf(gateway: Pick<SessionServerSources, 'catalog' | 'supervisor'>, view: View): ServerCapabilities['extensions'] {
  const union: NonNullable<ServerCapabilities['extensions']> = {};
  // Every backend, not only those with tools (the catalog lists those).
  const names = gateway.supervisor
    .list()
    .map((b) => b.name)
    .sort();
  for (const name of names) {
    if (!sees(view, name)) continue;
    for (const [id, settings] of Object.entries(gateway.catalog.meta(name)?.capabilities.extensions ?? {})) {
      if (!(id in union)) union[id] = settings;
    }
  }
  return Object.keys(union).length === 0 ? undefined : union;
}

const MODERN_GATEWAY_CAPABILITIES = modernCapabilities(GATEWAY_CAPABILITIES);

/**
 * Per-server capabilities, built once per backend listing: a 2026-07-28
 * request builds a server each time, so they are not rebuilt for each one.
 * Keyed on the catalog's capabilities object, which a new listing replaces.
 */
const mirrored = new WeakMap<object, { legacy: ServerCapabilities; modern: ServerCapabilities }>();

function capabilitiesOf(backend: ServerCapabilities | undefined, era: Era): ServerCapabilities {
  if (backend === undefined) return era === 'modern' ? MODERN_GATEWAY_CAPABILITIES : GATEWAY_CAPABILITIES;
  let both = mirrored.get(backend);
  if (both === undefined) {
    const legacy = { ...backend, logging: {}, tasks: TASKS_CAPABILITY };
    both = { legacy, modern: modernCapabilities(legacy) };
    mirrored.set(backend, both);
  }
  return both[era];
}

/** The methods whose 2026-07-28 answers carry cache hints. */
const HINTED = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);
/** The 2026-07-28 methods whose answers show the server's capabilities. */
const SHOWS_CAPABILITIES = new Set(['server/discover', 'subscriptions/listen']);
/** The methods registerResourceProxy answers. */
const PROXIED = new Set([
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);

/** The identity a server gives itself: its backend's on /mcp/{server} (`meta`), else the gateway's. */
export function serverInfoOf(meta: { serverInfo?: Implementation } | undefined): Implementation {
  return meta?.serverInfo ?? { name: 'stonegate', version: VERSION };
}

/** Which protocol era a server is built for: a 2025 session, or one 2026-07-28 request. */
export type { Era };

/**
 * The MCP server one agent session talks to. It holds no state of its own
 * beyond the view: tools come from the catalog, calls go through the
 * router, so every session sees the same backends, breakers and pools.
 *
 * A 2026-07-28 request gets a server of its own that answers `only` its
 * one method (the SDK has checked Mcp-Method against the body before the
 * server is built): nothing else is registered, and a method the gateway
 * does not serve has no handler, which the SDK answers 404 (-32601).
 */
export function createSessionServer(gateway: SessionServerSources, view: View, era: Era = 'legacy', only?: string): Server {
  const single = view.single;
  const meta = single === undefined ? undefined : gateway.catalog.meta(single);
  const answers = (method: string): boolean => only === undefined || only === method;
  // A per-server endpoint mirrors its backend (capabilities, name,
  // instructions) so that it can replace a direct connection.
  const base = capabilitiesOf(single === undefined ? undefined : (meta?.capabilities ?? {}), era);
  // /mcp: the gateway's own, with the extensions of the backends the view sees (both eras). A 2026-07-28
  // request shows its capabilities only in server/discover (and listen reads them): other methods skip the union.
  const extensions = single === undefined && (only === undefined || SHOWS_CAPABILITIES.has(only)) ? extensionsOf(gateway, view) : undefined;
  // [mcp-ext] A 2026-07-28 view whose backends run task tools advertises the Tasks extension too.
  const tasked = withTasksExtension(gateway, view, era === 'modern' && (only === undefined || SHOWS_CAPABILITIES.has(only)), base, extensions);
  // [coord-push] A 2025 session on /mcp that sees coord is a Claude Code channel (experimental claude/channel).
  const capabilities = era === 'legacy' ? withChannel(gateway, view, tasked) : tasked;
  const server = new Server(serverInfoOf(meta), {
    capabilities,
    // Modern answers only: the SDK never puts them on a 2025-era result.
    ...(era === 'modern' && (only === undefined || HINTED.has(only)) ? { cacheHints: cacheHintsFor(gateway, view) } : {}),
    instructions:
      single === undefined
        ? 'stonegate routes tool calls to many MCP servers. Tools are named <server>__<tool>. If you do not know which tool fits, call gate_discover with a few words, then call the tool by name or with gate_call.'
        : meta?.instructions,
  });
  tracing()?.traceServer(server, { session: () => view.session?.id, client: () => server.getClientVersion()?.name }); // [otel] a span per MCP request
  server.oninitialized = () => {
    // With auth the caller is the token's name, whatever the client calls itself.
    if (view.owner === undefined) view.caller = server.getClientVersion()?.name;
    // [coord-push] A client that declared claude/channel (or Claude Code) is pushed its agent's coordination notices.
    if (era === 'legacy' && single === undefined) coordPush(gateway)?.channel(server, view);
  };

  if (era === 'legacy') {
    // [mcp-bridge] Kept for 2026-07-28 backends (2025 backends are not told: their connections are shared); the gateway sends no logs of its own.
    server.setRequestHandler('logging/setLevel', async (request) => {
      setSessionLogLevel(server, request.params.level);
      return {};
    });
  }

  if (answers('tools/list')) {
    server.setRequestHandler('tools/list', async () => {
      await gateway.settled();
      return { tools: appTools(gateway, view, listTools(gateway, view), server.getClientCapabilities()) };
    });
  }

  // tools/call: the fallback handler (tool-call.ts says why), shared with the lean /mcp front path.
  const appsCall = toolCallHandler(gateway, view, era, server);
  if (era === 'modern') {
    // The 2025 tasks/* are not methods of the 2026-07-28 era; [mcp-ext] those of the Tasks extension are (task-extension.ts).
    if (answers('tools/call')) server.fallbackRequestHandler = async (request, ctx): Promise<Result> => appsCall(request, ctx);
    registerTaskMethods(server, gateway, view, only);
  } else {
    const tasks = taskRequests(gateway.dispatch, gateway.config.dispatch.result_ttl, view.owner ?? null, (srv, r) => appResult(view, srv, r));
    server.fallbackRequestHandler = async (request, ctx): Promise<Result> => {
      if (request.method === 'tools/call') return appsCall(request, ctx);
      const answer = tasks(request, ctx);
      if (answer === undefined) throw rpcFailure(ProtocolErrorCode.MethodNotFound, 'Method not found');
      return answer;
    };
  }

  const proxied = only === undefined || PROXIED.has(only);
  if (proxied && (capabilities.resources !== undefined || capabilities.prompts !== undefined || capabilities.completions !== undefined)) {
    // A 2026-07-28 server has no resources/subscribe: its subscriptions come with subscriptions/listen (mcp-modern.ts).
    const registered =
      era === 'modern' && capabilities.resources !== undefined ? { ...capabilities, resources: { ...capabilities.resources, subscribe: false } } : capabilities;
    registerResourceProxy(server, gateway, view, registered, (ctx) => downstreamOf(ctx, server, view));
  }
  return server;
}
