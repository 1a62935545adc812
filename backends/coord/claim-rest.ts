import type { Hono } from 'hono';
import { z } from 'zod';
import { jsonBody, opt, qint, query, str } from './rest-input.js';
import type { CoordStore } from './store.js';

/*
 * REST routes of work claims and consultation threads, mounted on the
 * coordination app (so under /coord). Same fields as the mux_claim_* and
 * mux_thread_* tools; refusals go through the app's onError like every
 * other coordination route.
 */

const list = z.array(str);
const scope = { channel: opt, repo: opt };
const target = { paths: list, depends_on: list.optional(), modules: list.optional(), ...scope };
const ttl = z.number().positive().optional();
const statuses = z.enum(['open', 'proposed', 'resolved', 'closed', 'cancelled']);

const bodies = {
  announce: z.strictObject({ agent_id: str, intent: str, ttl_seconds: ttl, exclusive: z.boolean().optional(), ...target }),
  check: z.strictObject({ agent_id: opt, ...target }),
  renew: z.strictObject({ claim_id: str, agent_id: str, ttl_seconds: ttl }),
  release: z.strictObject({ claim_id: str, agent_id: str }),
  open: z.strictObject({ agent_id: str, participants: list, subject: str, paths: list.optional(), claim_ids: list.optional(), ...scope }),
  post: z.strictObject({ thread_id: str, agent_id: str, kind: z.enum(['context', 'warning', 'question', 'proposal']).optional(), content: str }),
  respond: z.strictObject({ thread_id: str, agent_id: str, content: opt }),
  contest: z.strictObject({ thread_id: str, agent_id: str, content: str }),
  close: z.strictObject({ thread_id: str, agent_id: str, cancel: z.boolean().optional(), content: opt }),
};

const queries = {
  claims: z.strictObject({ ...scope, agent_id: opt }),
  status: z.strictObject({ ...scope, agent_id: opt }),
  thread: z.strictObject({ thread_id: str, agent_id: str, after: qint.optional() }),
  threads: z.strictObject({ ...scope, agent_id: opt, status: statuses.optional(), limit: qint.optional() }),
  updates: z.strictObject({ agent_id: str, after: qint.optional(), channel: opt, limit: qint.optional() }),
};

/** Adds the /claim/*, /thread/* and /status routes to the coordination app. */
export function claimRoutes(app: Hono, store: CoordStore): void {
  app.post('/claim/announce', async (c) => c.json(await store.announceClaim(await jsonBody(c, bodies.announce))));
  app.post('/claim/check', async (c) => c.json(await store.checkClaims(await jsonBody(c, bodies.check))));
  app.post('/claim/renew', async (c) => c.json(await store.renewClaim(await jsonBody(c, bodies.renew))));
  app.post('/claim/release', async (c) => c.json(await store.releaseClaim(await jsonBody(c, bodies.release))));
  app.get('/claim/list', async (c) => c.json({ claims: await store.listClaims(query(c, queries.claims)) }));
  app.get('/status', async (c) => c.json(await store.claimStatus(query(c, queries.status))));

  app.post('/thread/open', async (c) => c.json(await store.openThread(await jsonBody(c, bodies.open))));
  app.post('/thread/post', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, bodies.post)), action: 'post' })));
  app.post('/thread/approve', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, bodies.respond)), action: 'approve' })));
  app.post('/thread/contest', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, bodies.contest)), action: 'contest' })));
  app.post('/thread/close', async (c) => {
    const { cancel, ...rest } = await jsonBody(c, bodies.close);
    return c.json(await store.actOnThread({ ...rest, action: cancel === true ? 'cancel' : 'close' }));
  });
  app.get('/thread/get', async (c) => c.json(await store.getThread(query(c, queries.thread))));
  app.get('/thread/list', async (c) => c.json({ threads: await store.listThreads(query(c, queries.threads)) }));
  app.get('/thread/updates', async (c) => c.json(await store.threadUpdates(query(c, queries.updates))));
}
