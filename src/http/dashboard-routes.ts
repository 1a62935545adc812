import { Hono } from 'hono';
import { scrubDeep } from '../config/redact.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { CallHistory } from '../router/call-history.js';
import { BackendHistory } from '../supervisor/history.js';
import { intParam } from './body.js';
import { role } from './route-role.js';
import { assertMayUse, scopeOf } from './security.js';

/** What this module reads of the gateway. */
export type DashboardSources = Pick<GatewaySurface, 'callLog' | 'router' | 'security' | 'supervisor'>;

/**
 * The dashboard's history routes ([dashboard] #33): a backend's lifecycle
 * (GET /server/history) and calls over time per backend (GET
 * /stats/history), from two bounded in-memory rings built here, as the
 * app is built (before any backend starts), and fed by the supervisor's,
 * the router's and the call log's events. Both are agent routes: a token
 * limited to backends reads only theirs.
 */
export function dashboardRoutes(gateway: DashboardSources): Hono {
  const app = new Hono();
  const { supervisor } = gateway;
  const history = new BackendHistory({
    supervisor,
    onCircuit: (listener) => gateway.router.onCircuit(listener),
    lastError: (name) => (supervisor.has(name) ? supervisor.get(name).info().last_error : null),
  });
  const calls = new CallHistory();
  gateway.callLog.onRecord((record) => calls.record(record));
  supervisor.on('removed', (name: string) => calls.drop(name));

  app.get('/server/history', role('agent'), (c) => {
    const name = c.req.query('name') ?? '';
    assertMayUse(c, name);
    supervisor.get(name); // UNKNOWN_SERVER
    return c.json({ name, events: scrubDeep(history.of(name), gateway.security.secrets()) });
  });

  app.get('/stats/history', role('agent'), (c) => c.json(calls.view(intParam(c, 'minutes', 15, 60), scopeOf(c))));

  return app;
}
