import type { ServerResponse } from 'node:http';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { boardRoute } from './board.js';
import { coordOperations } from './coord-operations.js';
import { CoordError } from './errors.js';
import { eventStream } from './event-stream.js';
import type { OperationCall } from './operation.js';
import { type CoordOptionsInput, coordOptions } from './options.js';
import { jsonArgs, queryArgs } from './rest-input.js';
import { COORD_VERSION } from './server.js';
import type { CoordLogger, CoordStore } from './store.js';

/*
 * The stonemux REST API without its /coord prefix (the gateway and the
 * standalone server mount this app at /coord). Each operation's route comes
 * from its declaration (coord-operations.ts), whose schema checks the body or
 * query string as it checks the MCP tool's arguments; every refusal is
 * `{"error": "<sentence>", "code": "<CODE>"}` with the code's status,
 * produced in onError and nowhere else.
 *
 * A host that mounts these routes may set the Hono context variable
 * `coordViewer` (event-view.ts) to an agent id before they run: GET /events
 * then shows only what that agent may see (the gateway does so for agent
 * tokens). The standalone server never sets it.
 */

/**
 * Aborts when the client goes away before its answer (a long poll must then
 * not move the cursor). Under @hono/node-server this listens on the Node
 * response, because `c.req.raw.signal` makes the adapter build a whole web
 * Request for the call; elsewhere it is the Request's own signal.
 */
function clientGone(c: Context): AbortSignal {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing === undefined) return c.req.raw.signal;
  const gone = new AbortController();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) gone.abort();
  });
  return gone.signal;
}

/** The coordination REST routes (mount at /coord). */
export function coordRoutes(store: CoordStore, options: CoordOptionsInput = {}, logger?: CoordLogger): Hono {
  const opts = coordOptions(options);
  const app = new Hono();
  const started = Date.now();

  // Generous next to the per-field limits (which answer with precise
  // sentences); this only stops absurd bodies before they are parsed. A
  // declared Content-Length is checked as a number (Node holds the body to
  // it); only a chunked body is counted on the stream. GETs are left alone:
  // asking for `c.req.raw.body` makes the Node adapter build a whole web
  // Request, which a long-poll per agent per second does not need.
  const maxSize = Math.max(opts.max_message_size, opts.max_value_size) * 2 + 65_536;
  const tooLarge = (c: Context): Response => c.json({ error: `Request body is over ${maxSize} bytes; send less.`, code: 'PAYLOAD_TOO_LARGE' }, 413);
  const streamed = bodyLimit({ maxSize, onError: tooLarge });
  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length === undefined) return streamed(c, next);
    if (Number(length) > maxSize) return tooLarge(c);
    return next();
  });

  // The signal is made only for the operations that read it (long polls).
  const call = (c: Context): OperationCall => ({
    store,
    get signal() {
      return clientGone(c);
    },
  });
  // The methods of each route, for the 405 of a wrong method (GET answers HEAD too).
  const methods = new Map<string, string>([
    ['/events', 'GET, HEAD'],
    ['/health', 'GET, HEAD'],
    ['/board', 'GET, HEAD'],
  ]);
  // Every operation's route: GET reads the query string, POST the JSON body.
  for (const op of coordOperations(opts)) {
    const [method, path] = op.route.split(' ') as ['GET' | 'POST', string];
    methods.set(path, method === 'GET' ? 'GET, HEAD' : 'POST');
    if (method === 'GET') app.get(path, async (c) => c.json(await op.run(queryArgs(c, op.input), call(c))));
    else app.post(path, async (c) => c.json(await op.run(await jsonArgs(c), call(c))));
  }
  app.get('/events', (c) => eventStream(c, store, opts, logger));
  // The dashboard's read of every channel (board.ts; issue #29).
  app.get('/board', (c) => boardRoute(c, store, opts));
  app.get('/health', async (c) => {
    const health = await store.health();
    // A store whose file is gone or corrupt cannot serve: down, 503.
    const down = health.problem !== undefined;
    return c.json(
      { status: down ? 'down' : 'ok', version: COORD_VERSION, ...health, uptime_seconds: Math.floor((Date.now() - started) / 1000) },
      down ? 503 : 200,
    );
  });

  // Probes for orchestrators: live while the process serves; ready while the store answers. They reveal nothing.
  app.get('/livez', (c) => c.json({ status: 'live' }));
  app.get('/readyz', async (c) => {
    const problem = await store.health().then(
      (health) => health.problem,
      () => 'no answer',
    );
    return problem === undefined
      ? c.json({ status: 'ready' })
      : c.json({ status: 'not_ready', reason: 'The coordination store does not answer; GET /coord/health says why.' }, 503);
  });

  // A catch-all route rather than notFound(): a sub-app's notFound is not
  // consulted once the app is mounted with route(). A route that exists
  // under another method is 405 with Allow (RFC 9110), not 404.
  app.all('*', (c) => {
    const allow = methods.get(c.req.path.replace(/^\/coord(?=\/)/, ''));
    const shown = `${c.req.method} ${new URL(c.req.url).pathname}`;
    if (allow !== undefined) {
      c.header('Allow', allow);
      const use = allow.split(', ')[0];
      return c.json({ error: `${shown} is not allowed; this route takes ${use} (Allow: ${allow}).`, code: 'METHOD_NOT_ALLOWED' }, 405);
    }
    return c.json({ error: `No coordination route ${shown}; see docs/coordination.md for the routes.`, code: 'NOT_FOUND' }, 404);
  });
  app.onError((error, c) => {
    if (error instanceof CoordError) return c.json(error.toJSON(), error.status);
    logger?.error({ error: error.stack ?? error.message, path: c.req.path }, 'coord REST route failed');
    return c.json({ error: `The coordination backend failed: ${error.message}. Retry; report it if it persists.`, code: 'INTERNAL' }, 500);
  });
  return app;
}
