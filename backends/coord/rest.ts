import type { ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { CoordError } from './errors.js';
import { claimRoutes } from './claim-rest.js';
import { eventStream } from './event-stream.js';
import { coordOptions, type CoordOptionsInput } from './options.js';
import { jsonBody, opt, qbool, qint, qnum, query, str } from './rest-input.js';
import { COORD_VERSION } from './server.js';
import type { CoordLogger, CoordStore } from './store.js';

/*
 * The stonemux REST API without its /coord prefix (the gateway and the
 * standalone server mount this app at /coord). Bodies and query strings are
 * validated with zod; every refusal is `{"error": "<sentence>", "code":
 * "<CODE>"}` with the code's status, produced in onError and nowhere else.
 *
 * A host that mounts these routes may set the Hono context variable
 * `coordViewer` (event-view.ts) to an agent id before they run: GET /events
 * then shows only what that agent may see (the gateway does so for agent
 * tokens). The standalone server never sets it.
 */

const seconds = (value: number | undefined): number | undefined => (value === undefined ? undefined : value * 1000);

const bodies = {
  register: z.strictObject({
    agent_id: str,
    role: str,
    capabilities: z.array(str).optional(),
    group: z.string().nullable().optional(),
    channel: opt,
    webhook_url: z.string().nullable().optional(),
  }),
  agent: z.strictObject({ agent_id: str }),
  send: z.strictObject({ from: str, to: str, content: str, channel: opt }),
  broadcast: z.strictObject({ from: str, content: str, group: opt, channel: opt }),
  post: z.strictObject({
    description: str,
    posted_by: str,
    required_capability: z.string().nullable().optional(),
    priority: z.number().int().optional(),
    channel: opt,
    metadata: z.record(z.string(), z.unknown()).optional(),
  }),
  claim: z.strictObject({ agent_id: str, channel: opt }),
  complete: z.strictObject({
    task_id: str,
    agent_id: str,
    result: opt,
    status: z.enum(['complete', 'failed']).optional(),
    epoch: z.number().int().min(0).optional(),
  }),
  set: z.strictObject({
    key: str,
    value: z.unknown(),
    channel: opt,
    expected_version: z.number().int().min(0).optional(),
    updated_by: opt,
  }),
  channel: z.strictObject({ name: str, created_by: opt, description: opt }),
};

const queries = {
  discover: z.strictObject({
    role: opt,
    group: opt,
    capability: opt,
    status: z.enum(['active', 'stale']).optional(),
    channel: opt,
    include_stale: qbool.optional(),
  }),
  poll: z.strictObject({ agent_id: str, channel: opt, timeout: qnum.optional(), after: qint.optional(), limit: qint.optional() }),
  history: z.strictObject({ channel: opt, agent_id: opt, with_agent: opt, group: opt, limit: qint.optional(), before: qint.optional() }),
  tasks: z.strictObject({
    status: z.enum(['pending', 'claimed', 'complete', 'failed']).optional(),
    channel: opt,
    claimed_by: opt,
    limit: qint.optional(),
  }),
  stateGet: z.strictObject({ key: str, channel: opt }),
  watch: z.strictObject({ key: str, channel: opt, after_version: qint.optional(), timeout: qnum.optional() }),
  stats: z.strictObject({ channel: opt }),
};

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

/** One sentence naming every bad field. */
function describeZodError(error: z.ZodError): string {
  const parts = error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `'${issue.path.join('.')}'` : 'the request';
    if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${where} is required`;
    return `${where}: ${issue.message}`;
  });
  return `Invalid request: ${parts.join('; ')}. See GET /coord/health for the server and docs/coordination.md for each route's fields.`;
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

  app.post('/agent/register', async (c) => c.json(await store.registerAgent(await jsonBody(c, bodies.register))));
  app.post('/agent/deregister', async (c) => c.json(await store.deregisterAgent((await jsonBody(c, bodies.agent)).agent_id)));
  app.post('/agent/heartbeat', async (c) => c.json({ agent: await store.heartbeat((await jsonBody(c, bodies.agent)).agent_id) }));
  app.get('/agent/discover', async (c) => c.json({ agents: await store.discoverAgents(query(c, queries.discover)) }));

  app.post('/msg/send', async (c) => c.json(await store.sendMessage(await jsonBody(c, bodies.send))));
  app.post('/msg/broadcast', async (c) => c.json(await store.broadcast(await jsonBody(c, bodies.broadcast))));
  app.get('/msg/poll', async (c) => {
    const { timeout, ...rest } = query(c, queries.poll);
    return c.json(await store.poll({ ...rest, timeout_ms: seconds(timeout), signal: clientGone(c) }));
  });
  app.get('/msg/history', async (c) => c.json(await store.history(query(c, queries.history))));

  app.post('/task/post', async (c) => c.json(await store.postTask(await jsonBody(c, bodies.post))));
  app.post('/task/claim', async (c) => c.json(await store.claimTask(await jsonBody(c, bodies.claim))));
  app.post('/task/complete', async (c) => c.json(await store.completeTask(await jsonBody(c, bodies.complete))));
  app.get('/task/list', async (c) => c.json({ tasks: await store.listTasks(query(c, queries.tasks)) }));

  app.get('/state/get', async (c) => {
    const { key, channel } = query(c, queries.stateGet);
    return c.json(await store.getState(key, channel));
  });
  app.post('/state/set', async (c) => c.json(await store.setState(await jsonBody(c, bodies.set))));
  app.get('/state/watch', async (c) => {
    const { timeout, ...rest } = query(c, queries.watch);
    return c.json(await store.watchState({ ...rest, timeout_ms: seconds(timeout), signal: clientGone(c) }));
  });

  app.post('/channel/create', async (c) => c.json(await store.createChannel(await jsonBody(c, bodies.channel))));
  app.get('/channel/list', async (c) => c.json({ channels: await store.listChannels() }));

  app.get('/stats', async (c) => c.json(await store.stats(query(c, queries.stats).channel)));
  claimRoutes(app, store);
  app.get('/events', (c) => eventStream(c, store, opts, logger));
  app.get('/health', async (c) => {
    const health = await store.health();
    // A store whose file is gone or corrupt cannot serve: down, 503.
    const down = health.problem !== undefined;
    return c.json({ status: down ? 'down' : 'ok', version: COORD_VERSION, ...health, uptime_seconds: Math.floor((Date.now() - started) / 1000) }, down ? 503 : 200);
  });

  // A catch-all route rather than notFound(): a sub-app's notFound is not
  // consulted once the app is mounted with route().
  app.all('*', (c) =>
    c.json({ error: `No coordination route ${c.req.method} ${new URL(c.req.url).pathname}; see docs/coordination.md for the routes.`, code: 'NOT_FOUND' }, 404),
  );
  app.onError((error, c) => {
    if (error instanceof CoordError) return c.json(error.toJSON(), error.status);
    if (error instanceof z.ZodError) return c.json({ error: describeZodError(error), code: 'BAD_REQUEST' }, 400);
    logger?.error({ error: error.stack ?? error.message, path: c.req.path }, 'coord REST route failed');
    return c.json({ error: `The coordination backend failed: ${error.message}. Retry; report it if it persists.`, code: 'INTERNAL' }, 500);
  });
  return app;
}
