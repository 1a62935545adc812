import type { Hono } from 'hono';
import { jsonBody, query } from './rest-input.js';
import {
  AnnounceClaimInputSchema,
  CheckClaimsInputSchema,
  ClaimListQuerySchema,
  ClaimStatusQuerySchema,
  ReleaseClaimInputSchema,
  RenewClaimInputSchema,
} from './schemas/claim.js';
import {
  GetThreadInputSchema,
  OpenThreadInputSchema,
  ThreadApproveInputSchema,
  ThreadCloseInputSchema,
  ThreadContestInputSchema,
  ThreadListQuerySchema,
  ThreadPostInputSchema,
  ThreadUpdatesInputSchema,
} from './schemas/thread.js';
import type { CoordStore } from './store.js';

/*
 * REST routes of work claims and consultation threads, mounted on the
 * coordination app (so under /coord). The same schemas as the mux_claim_*
 * and mux_thread_* tools (schemas/claim.ts, schemas/thread.ts); refusals go through the app's onError like every
 * other coordination route.
 */

/** Adds the /claim/*, /thread/* and /status routes to the coordination app. */
export function claimRoutes(app: Hono, store: CoordStore): void {
  app.post('/claim/announce', async (c) => c.json(await store.announceClaim(await jsonBody(c, AnnounceClaimInputSchema))));
  app.post('/claim/check', async (c) => c.json(await store.checkClaims(await jsonBody(c, CheckClaimsInputSchema))));
  app.post('/claim/renew', async (c) => c.json(await store.renewClaim(await jsonBody(c, RenewClaimInputSchema))));
  app.post('/claim/release', async (c) => c.json(await store.releaseClaim(await jsonBody(c, ReleaseClaimInputSchema))));
  app.get('/claim/list', async (c) => c.json({ claims: await store.listClaims(query(c, ClaimListQuerySchema)) }));
  app.get('/status', async (c) => c.json(await store.claimStatus(query(c, ClaimStatusQuerySchema))));

  app.post('/thread/open', async (c) => c.json(await store.openThread(await jsonBody(c, OpenThreadInputSchema))));
  app.post('/thread/post', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, ThreadPostInputSchema)), action: 'post' })));
  app.post('/thread/approve', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, ThreadApproveInputSchema)), action: 'approve' })));
  app.post('/thread/contest', async (c) => c.json(await store.actOnThread({ ...(await jsonBody(c, ThreadContestInputSchema)), action: 'contest' })));
  app.post('/thread/close', async (c) => {
    const { cancel, ...rest } = await jsonBody(c, ThreadCloseInputSchema);
    return c.json(await store.actOnThread({ ...rest, action: cancel === true ? 'cancel' : 'close' }));
  });
  app.get('/thread/get', async (c) => c.json(await store.getThread(query(c, GetThreadInputSchema))));
  app.get('/thread/list', async (c) => c.json({ threads: await store.listThreads(query(c, ThreadListQuerySchema)) }));
  app.get('/thread/updates', async (c) => c.json(await store.threadUpdates(query(c, ThreadUpdatesInputSchema))));
}
