import type { ServerResponse } from 'node:http';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { CoordError } from './errors.js';
import { fromLoopback } from './loopback-host.js';
import { type CoordMcpEndpoint, coordMcpEndpoint } from './mcp-http.js';
import type { CoordOptions } from './options.js';
import { coordRoutes } from './rest.js';
import { COORD_VERSION } from './server.js';
import type { CoordLogger, CoordStore } from './store.js';

/*
 * The HTTP app of the standalone server (`stonegate coord`, main.js): MCP at
 * /mcp, the REST + SSE routes under /coord, and the same routes again at the
 * root, where the seed's own clients (stonemux-reference.txt: /agent/register,
 * /msg/send, /events, /stats, /health, …) look for them — same handlers, same
 * refusals. The root /health answers the seed's shape (status, version, tier,
 * uptime) on top of ours. Anything else is a JSON NOT_FOUND, at the root too.
 */

/** Name of the standalone server in `GET /` and the root `/health` (stonegate doctor recognises it by this). */
export const STANDALONE_NAME = 'stonegate-coord';

/**
 * DNS-rebinding protection for the REST routes of a loopback-bound server,
 * as mcp-http.ts does for /mcp (which keeps its own JSON-RPC answer): Host,
 * and Origin when a browser sends one, must name a loopback host.
 */
function loopbackRest(): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.path === '/mcp') return next();
    if (!fromLoopback(c)) {
      return c.json(
        {
          error:
            'Host or Origin is not a loopback name; this server answers only requests addressed to a loopback address as written (127.0.0.1, [::1]), localhost or *.localhost.',
          code: 'FORBIDDEN',
        },
        403,
      );
    }
    await next();
  };
}

/** What the standalone server holds open at most (`--max-sessions`, `--max-streams`, `--session-idle-timeout`). */
export interface StandaloneCaps {
  /** MCP sessions at /mcp. */
  sessions: number;
  /** Event streams (GET /coord/events, GET /events). */
  streams: number;
  /** Seconds an MCP session lives without a request. */
  sessionIdleSeconds: number;
}

/** The caps when no flag sets them: far above one team's agents, far below the open-file limit; idle sessions as the gateway's default. */
export const DEFAULT_STANDALONE_CAPS: Readonly<StandaloneCaps> = { sessions: 256, streams: 256, sessionIdleSeconds: 1800 };

/** Seconds a client refused for the stream cap is asked to wait (Retry-After). */
const RETRY_AFTER = 1;

/**
 * The event-stream cap: at most `max` GET /events streams (either spelling)
 * at once; one more is refused (429, RATE_LIMITED, Retry-After) before the
 * store is read. A slot is freed when the response closes, whether it ended
 * or its client went away. Without a Node response (app.request in a test)
 * nothing is counted.
 */
function streamCap(max: number): MiddlewareHandler {
  let open = 0;
  return async (c, next) => {
    if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || (c.req.path !== '/events' && c.req.path !== '/coord/events')) return next();
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing === undefined) return next();
    if (open >= max) {
      const error = new CoordError(
        'RATE_LIMITED',
        `The server holds ${open} event streams, its limit (--max-streams ${max}); close streams you no longer read, or retry after ${RETRY_AFTER} s.`,
      );
      c.header('Retry-After', String(RETRY_AFTER));
      return c.json(error.toJSON(), error.status);
    }
    open += 1;
    outgoing.once('close', () => {
      open -= 1;
    });
    await next();
  };
}

/** The standalone HTTP app and its MCP endpoint (close it on shutdown). */
export interface StandaloneApp {
  app: Hono;
  mcp: CoordMcpEndpoint;
}

/** Builds the standalone server's routes over `store`; `loopback`: bound to a loopback address (Host/Origin are then checked). */
export function standaloneApp(
  store: CoordStore,
  options: CoordOptions,
  logger: CoordLogger | undefined,
  loopback: boolean,
  caps: Readonly<StandaloneCaps> = DEFAULT_STANDALONE_CAPS,
): StandaloneApp {
  const mcp = coordMcpEndpoint(store, options, logger, loopback, { max: caps.sessions, idleMs: caps.sessionIdleSeconds * 1000 });
  const routes = coordRoutes(store, options, logger);
  const app = new Hono();
  if (loopback) app.use('*', loopbackRest());
  app.use('*', streamCap(caps.streams));
  app.route('/coord', routes);
  app.route('/', mcp.app);
  app.get('/', (c) =>
    c.json({
      name: STANDALONE_NAME,
      version: COORD_VERSION,
      mcp: '/mcp',
      rest: '/coord',
      events: '/coord/events',
      health: '/coord/health',
      livez: '/coord/livez',
      readyz: '/coord/readyz',
      // The seed's clients call the routes without /coord; both spellings are the same routes.
      seed_paths: '/',
    }),
  );
  app.get('/health', (c) => seedHealth(c, routes));
  app.route('/', routes);
  return { app, mcp };
}

/** The seed's /health: our /coord/health plus the seed's `tier` (every feature is on: "enterprise") and `uptime` (seconds). */
async function seedHealth(c: Context, routes: Hono): Promise<Response> {
  const ours = await routes.request('/health');
  const body = (await ours.json()) as Record<string, unknown>;
  return c.json({ ...body, name: STANDALONE_NAME, tier: 'enterprise', uptime: body.uptime_seconds }, ours.status as 200 | 503);
}
