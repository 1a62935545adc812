import { Hono } from 'hono';
import { scrub, scrubError } from '../config/redact.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { tracing } from '../telemetry/telemetry.js';
import { streamSlot } from './client-slots.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { hotRoutes } from './hot-routes.js';
import { mcpEndpoint } from './mcp-endpoint.js';
import { oauthMetadataRoutes } from './oauth-metadata.js';
import { probeRoutes } from './probe-routes.js';
import { restRoutes } from './rest.js';
import { middleware, mountWithRole } from './route-role.js';
import { actingAsGuard, bodyGuard, type PlainAnswer, securityGuard } from './security.js';
import { uiRoutes } from './ui.js';

/**
 * The front door: one Hono app. Every request passes, in order: the
 * security guard (the role the route declares — route-role.ts; Host/Origin,
 * bearer token, rate limit, Content-Type), then the body guard (the body read once, within the size
 * limit — a chunked body without Content-Length is cut at the limit too —
 * and the JSON depth limit); the event streams take a slot of their
 * client's (client-slots.ts); then the routes. Errors are translated here and nowhere else — a
 * GatewayError becomes `{error, code}` with its status (and Retry-After
 * when it has one), its message scrubbed of every secret the gateway
 * knows; anything else is a bug, logged, and answered as INTERNAL without
 * internals.
 */
export function createApp(gateway: GatewaySurface): Hono {
  const app = new Hono();
  // [otel] A server span per request while tracing is on (telemetry/otel.ts), first: refused requests are traced too.
  app.use(
    '*',
    middleware((c, next) => tracing()?.http(c, next) ?? next()),
  );
  app.use('*', middleware(securityGuard(gateway)));
  app.use('*', middleware(bodyGuard(gateway)));
  // Event streams are held per client and in all (client-slots.ts).
  app.use('/log/stream', middleware(streamSlot(gateway.security.caps)));
  for (const builtin of gateway.builtins)
    for (const stream of builtin.streams) app.use(`/${builtin.name}${stream}`, middleware(streamSlot(gateway.security.caps)));

  app.route('/', restRoutes(gateway));
  app.route('/', probeRoutes(gateway));
  app.route('/', oauthMetadataRoutes(gateway));
  app.route('/', uiRoutes(gateway));
  app.route('/', dashboardRoutes(gateway)); // [dashboard] backend history, calls over time
  for (const builtin of gateway.builtins) {
    if (builtin.routes === undefined) continue;
    if (builtin.identity !== undefined) app.use(`/${builtin.name}/*`, middleware(actingAsGuard(builtin.identity, builtin.activity)));
    // A built-in's REST routes are agent routes (its identity guard narrows what a token may do there).
    app.route(`/${builtin.name}`, mountWithRole('agent', builtin.routes, builtin.probes));
  }
  const mcp = mcpEndpoint(gateway);
  app.route('/', mcp.routes);

  app.notFound((c) => {
    const error = new GatewayError('UNKNOWN_ROUTE', `No route for ${c.req.method} ${new URL(c.req.url).pathname}; see docs/rest.md`);
    return c.json(error.toJSON(), 404);
  });

  const answer = errorAnswer(gateway);
  app.onError((err, c) => {
    const { status, headers, body } = answer(err, c.req.path);
    return c.json(body, status as 400, headers);
  });
  // The hot routes, served before Hono by the Node listener (hot-routes.ts), with the same guards and answers.
  hotRoutes(app, gateway, answer, mcp);
  return app;
}

/** The one translation of an error to its answer (app.onError's, and the hot path's): `{error, code}` with its status. */
export function errorAnswer(gateway: Pick<GatewaySurface, 'logger' | 'security' | 'storeError'>): (err: Error, path: string) => PlainAnswer {
  const log = gateway.logger;
  return (err, path) => {
    const secrets = gateway.security.secrets();
    const error = scrubError(gateway.storeError(err) ?? toGatewayError(err), secrets);
    if (error.code === 'INTERNAL') log.error({ error: error.message, stack: scrub(err.stack ?? '', secrets), path }, 'unhandled error in request');
    const headers: Record<string, string> = error.retryAfter === undefined ? {} : { 'Retry-After': String(error.retryAfter) };
    return { status: error.status, headers, body: error.toJSON() };
  };
}
