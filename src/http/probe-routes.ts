import { Hono } from 'hono';
import type { GatewaySurface } from '../mcp/surface.js';
import { probe } from './route-role.js';

/** What this module reads of the gateway. */
export type ProbeSources = Pick<GatewaySurface, 'readiness'>;

/**
 * GET /livez and GET /readyz, for orchestrators' probes: no token (they
 * reveal nothing), Host/Origin checked like every route but /health
 * (route-role.ts `probe()`). /livez is 200 while the process serves;
 * /readyz is 200 when the stores answer and the enabled backends have
 * started, else 503 with one sentence (views/readiness.ts).
 */
export function probeRoutes(gateway: ProbeSources): Hono {
  const app = new Hono();
  app.get('/livez', probe(), (c) => c.json({ status: 'live' }));
  app.get('/readyz', probe(), async (c) => {
    const ready = await gateway.readiness();
    return c.json(ready, ready.status === 'ready' ? 200 : 503);
  });
  return app;
}
