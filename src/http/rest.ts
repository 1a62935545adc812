import { type Context, Hono } from 'hono';
import type { Identity } from '../auth/tokens.js';
import type { CatalogTool } from '../catalog/catalog.js';
import { scrubDeep } from '../config/redact.js';
import { type CallView, viewOf } from '../dispatch/table.js';
import { GatewayError } from '../errors.js';
import { type NamedView, selectView, viewTarget } from '../mcp/named-view.js';
import type { GatewaySurface } from '../mcp/surface.js';
import type { AbortWatch } from '../pool/connection.js';
import { CallInputSchema } from '../router/call-input.js';
import type { BackendStats } from '../router/call-log.js';
import type { CallOutcome, CallRequest } from '../router/call-types.js';
import type { AsyncCall } from '../store/dispatch-store.js';
import { httpCarrier, requestSpan, submitterContext } from '../telemetry/telemetry.js';
import { adminHandlers } from './admin-routes.js';
import { intParam, parseBody, readBody } from './body.js';
import { role } from './route-role.js';
import { assertMayUse, scopeOf } from './security.js';

/** What this module reads and calls of the gateway. */
export type RestSources = Pick<
  GatewaySurface,
  'callLog' | 'catalog' | 'config' | 'dispatch' | 'health' | 'metrics' | 'reloader' | 'roster' | 'router' | 'security' | 'serverList' | 'settled' | 'supervisor'
>;

/** A tool as REST lists it; in a named view, under the view's name (a renamed tool's `name` is its new one) and description. */
function toolView(tool: CatalogTool, named?: NamedView): Record<string, unknown> {
  const renamed = named !== undefined && named.nameOf(tool) !== tool.exposed;
  return {
    name: renamed ? named.nameOf(tool) : tool.name,
    server: tool.server,
    exposed_name: named === undefined ? tool.exposed : named.nameOf(tool),
    description: named === undefined ? tool.description : named.descriptionOf(tool),
    parameters: tool.inputSchema,
  };
}

/** Both sets' common backends; undefined stands for every backend. */
function narrow(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return new Set([...a].filter((s) => b.has(s)));
}

/**
 * The REST API of DESIGN.md: calls, catalog, backends, health, and the
 * admin routes (handlers in admin-routes.ts). With auth on, the caller of
 * a call and the owner of an async call are the token's name, and a token
 * limited to backends sees and calls only those (FORBIDDEN otherwise).
 */
/** What POST /call reads of a request: its route's context, or the hot path's Node request (hot-routes.ts). */
export interface RestCallRequest {
  /** The body's text (the body guard has read it within the limits). */
  text: string;
  /** The view the query asks for (`?view=`). */
  view: string | undefined;
  identity: Identity | undefined;
  header(name: string): string | undefined;
  /** Aborts when the client goes away before the answer ([speed] the hot path's is a CallCancel, no AbortSignal: call-cancel.ts). */
  signal: AbortWatch | undefined;
  /** [otel] The request's span (tracing on), the call span's parent. */
  parent?: CallRequest['parent'];
}

/**
 * POST /call's work, for its route and for the hot path: the body checked
 * against CallInputSchema, the tool named as the request's view names it,
 * then the router's call.
 */
export function restCall(gateway: RestSources): (req: RestCallRequest) => Promise<CallOutcome> {
  const { router, catalog } = gateway;
  // [[views]] The view a request asks for (?view=) or its token is bound to, from the config of this request.
  const views = () => gateway.config.views;
  return async (req) => {
    const body = parseBody(req.text, CallInputSchema);
    // A backend outside the token's list is refused (FORBIDDEN) by the router's call guard, which also audits the refusal.
    const named = selectView(views, req.view, req.identity);
    let tool = body.tool;
    if (named !== undefined) {
      if (catalog.tools(new Set([body.server])).length === 0) await gateway.settled();
      tool = viewTarget(catalog, named, body.server, body.tool).name;
    }
    // [otel] An HTTP traceparent/tracestate goes on to the backend (the gateway's own span's while tracing is on).
    const traceContext = httpCarrier(req.header);
    return router.call({
      server: body.server,
      tool,
      arguments: body.arguments,
      caller: req.identity?.name,
      signal: req.signal,
      traceContext,
      parent: req.parent,
    });
  };
}

export function restRoutes(gateway: RestSources): Hono {
  const app = new Hono();
  const { catalog, supervisor } = gateway;
  const admin = adminHandlers(gateway);
  const who = (c: Context): string | undefined => c.get('identity')?.name;
  const callView = (call: AsyncCall): CallView => scrubDeep(viewOf(call), gateway.security.secrets());
  // [[views]] The view a request asks for (?view=) or its token is bound to, from the config of this request.
  const namedOf = (c: Context): NamedView | undefined => selectView(() => gateway.config.views, c.req.query('view'), c.get('identity'));
  /** The backend's name of the tool a call names in the request's view (a renamed tool's new name; FORBIDDEN when left out). */
  const toolIn = async (c: Context, server: string, tool: string): Promise<string> => {
    const named = namedOf(c);
    if (named === undefined) return tool;
    if (catalog.tools(new Set([server])).length === 0) await gateway.settled();
    return viewTarget(catalog, named, server, tool).name;
  };
  const call = restCall(gateway);

  app.post('/call', role('agent'), async (c) => {
    const text = await c.req.text();
    const header = (name: string): string | undefined => c.req.header(name);
    return c.json(
      await call({ text, view: c.req.query('view'), identity: c.get('identity'), header, signal: c.req.raw.signal, parent: requestSpan(c.req.raw) }),
    );
  });

  app.post('/call/async', role('agent'), async (c) => {
    const body = await readBody(c, CallInputSchema);
    assertMayUse(c, body.server);
    const tool = await toolIn(c, body.server, body.tool);
    // [otel] The request's span's context (recorded), else the caller's.
    const traceContext = submitterContext(
      c.req.raw,
      httpCarrier((name) => c.req.header(name)),
    );
    const call = await gateway.dispatch.submit({ server: body.server, tool, arguments: body.arguments, caller: who(c), owner: who(c) ?? null, traceContext });
    return c.json({ call_id: call.id, submitted_at: call.submitted_at, status: call.state }, 202);
  });

  app.get('/call/:id', role('agent'), async (c) => {
    const waitMs = c.req.query('wait_ms') === undefined ? 0 : intParam(c, 'wait_ms', 0, gateway.config.dispatch.max_await);
    const call = await gateway.dispatch.wait(c.req.param('id'), who(c) ?? null, waitMs, c.req.raw.signal);
    return c.json(callView(call));
  });

  app.delete('/call/:id', role('agent'), async (c) => c.json(callView(await gateway.dispatch.cancel(c.req.param('id'), who(c) ?? null))));

  app.get('/tools', role('agent'), (c) => {
    const named = namedOf(c);
    const tools = catalog
      .tools(narrow(scopeOf(c), named?.servers))
      .filter((t) => named === undefined || named.shows(t))
      .map((t) => toolView(t, named));
    return c.json({ tools, total: tools.length });
  });

  app.get('/tools/:server', role('agent'), (c) => {
    const server = c.req.param('server');
    assertMayUse(c, server);
    supervisor.get(server);
    const named = namedOf(c);
    const tools = catalog
      .tools(new Set([server]))
      .filter((t) => named === undefined || named.shows(t))
      .map((t) => toolView(t, named));
    return c.json({ tools, total: tools.length });
  });

  app.get('/discover', role('agent'), (c) => {
    const query = c.req.query('query') ?? c.req.query('q') ?? '';
    const server = c.req.query('server');
    if (server !== undefined) {
      assertMayUse(c, server);
      supervisor.get(server);
    }
    const limit = intParam(c, 'limit', 20, 200);
    const named = namedOf(c);
    const servers = narrow(narrow(scopeOf(c), named?.servers), server === undefined ? undefined : new Set([server]));
    const { ranked, matched } = catalog.discover(query, { limit, servers, ...(named === undefined ? {} : { accept: named.shows }) });
    const tools = ranked.map((r) => ({ ...toolView(r.tool, named), score: r.score }));
    // total is the number returned (kept as it was); matched counts every hit before the limit.
    return c.json({ query, tools, total: tools.length, matched, has_more: matched > tools.length });
  });

  app.get('/schema/:server/:tool', role('agent'), (c) => {
    const server = c.req.param('server');
    const tool = c.req.param('tool');
    assertMayUse(c, server);
    supervisor.get(server);
    const named = namedOf(c);
    const entry = named === undefined ? catalog.resolve(server, tool) : viewTarget(catalog, named, server, tool);
    if (entry === undefined) throw new GatewayError('UNKNOWN_TOOL', `Backend '${server}' has no tool '${tool}'; GET /tools/${server} lists its tools`);
    if (catalog.isHeld(server, tool)) {
      throw new GatewayError(
        'FORBIDDEN',
        `Tool '${tool}' of backend '${server}' changed since it was approved and is withheld ([gateway] pin_tools); POST /server/approve releases it`,
      );
    }
    return c.json(entry.inputSchema);
  });

  // [[views]] A view with servers (asked for, or the token's) lists those backends only.
  app.get('/server/list', role('agent'), (c) => c.json({ servers: gateway.serverList(narrow(scopeOf(c), namedOf(c)?.servers)) }));

  app.post('/server/start', role('admin'), admin.start);
  app.post('/server/stop', role('admin'), admin.stop);
  app.post('/server/restart', role('admin'), admin.restart);
  app.post('/server/reset', role('admin'), admin.reset);
  app.post('/server/add', role('admin'), admin.add);
  app.post('/server/remove', role('admin'), admin.remove);
  app.post('/server/approve', role('admin'), admin.approve);
  app.get('/config', role('admin'), admin.config);
  // Reads stonegate.toml again (docs/configuration.md "Live configuration"); a refused file answers 422 with why.
  app.post('/config/reload', role('admin'), async (c) => {
    const result = await gateway.reloader.reload('api');
    return c.json(result, result.status === 'ok' ? 200 : 422);
  });
  app.get('/log', role('admin'), admin.log);
  app.get('/log/export', role('admin'), admin.log);

  app.get('/stats', role('agent'), (c) => c.json(statsFor(gateway, scopeOf(c))));

  app.get('/metrics', role('agent'), async (c) => {
    c.header('Content-Type', gateway.metrics.contentType);
    return c.body(await gateway.metrics.metrics());
  });

  app.get('/health', role('public'), async (c) => {
    const health = await gateway.health();
    // Only `down` (no usable store) is 503: a degraded gateway still serves.
    return c.json(health, health.status === 'down' ? 503 : 200);
  });

  return app;
}

/**
 * /stats for a token limited to backends: totals over its backends only;
 * the latency percentiles are kept over all calls, so they are null.
 */
function statsFor(gateway: RestSources, scope: ReadonlySet<string> | undefined): Record<string, unknown> {
  const all = gateway.callLog.stats(scope);
  if (scope === undefined) return all;
  const backends = Object.values(all.backends as Record<string, BackendStats>);
  const sum = (field: 'calls' | 'errors' | 'caller_errors' | 'tool_errors' | 'stopped_calls'): number => backends.reduce((n, b) => n + b[field], 0);
  const calls = sum('calls');
  const errors = sum('errors');
  const avg = calls === 0 ? 0 : backends.reduce((n, b) => n + b.avg_ms * b.calls, 0) / calls;
  return {
    ...all,
    total_calls: calls,
    total_errors: errors,
    total_caller_errors: sum('caller_errors'),
    total_tool_errors: sum('tool_errors'),
    total_stopped_calls: sum('stopped_calls'),
    error_rate: calls === 0 ? 0 : Math.round((errors / calls) * 10_000) / 10_000,
    avg_latency_ms: Math.round(avg * 100) / 100,
    p50_latency_ms: null,
    p95_latency_ms: null,
    p99_latency_ms: null,
  };
}
