import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { CatalogTool } from '../catalog/catalog.js';
import { GatewayError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { Backend } from '../supervisor/backend.js';
import { intParam, readBody } from './body.js';

const CallBody = z.object({
  server: z.string().min(1),
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
});

function toolView(tool: CatalogTool): Record<string, unknown> {
  return {
    name: tool.name,
    server: tool.server,
    exposed_name: tool.exposed,
    description: tool.description,
    parameters: tool.inputSchema,
  };
}

/** The REST API of DESIGN.md: calls, catalog, backends, health. */
export function restRoutes(gateway: Gateway): Hono {
  const app = new Hono();
  const { router, catalog, supervisor } = gateway;

  app.post('/call', async (c) => {
    const body = await readBody(c, CallBody);
    const outcome = await router.call({ server: body.server, tool: body.tool, arguments: body.arguments, signal: c.req.raw.signal });
    return c.json(outcome);
  });

  app.get('/tools', (c) => {
    const tools = catalog.tools().map(toolView);
    return c.json({ tools, total: tools.length });
  });

  app.get('/tools/:server', (c) => {
    const server = c.req.param('server');
    supervisor.get(server);
    const tools = catalog.tools(new Set([server])).map(toolView);
    return c.json({ tools, total: tools.length });
  });

  app.get('/discover', (c) => {
    const query = c.req.query('query') ?? c.req.query('q') ?? '';
    const server = c.req.query('server');
    if (server !== undefined) supervisor.get(server);
    const limit = intParam(c, 'limit', 20, 200);
    const ranked = catalog.discover(query, { limit, servers: server === undefined ? undefined : new Set([server]) });
    const tools = ranked.map((r) => ({ ...toolView(r.tool), score: r.score }));
    return c.json({ query, tools, total: tools.length });
  });

  app.get('/schema/:server/:tool', (c) => {
    const server = c.req.param('server');
    const tool = c.req.param('tool');
    supervisor.get(server);
    const entry = catalog.resolve(server, tool);
    if (entry === undefined) throw new GatewayError('UNKNOWN_TOOL', `Backend '${server}' has no tool '${tool}'; GET /tools/${server} lists its tools`);
    return c.json(entry.inputSchema);
  });

  app.get('/server/list', (c) => c.json({ servers: gateway.serverList() }));

  // Start, stop and restart a configured backend. Stop closes its
  // connections at once (calls in flight fail with BACKEND_UNAVAILABLE).
  const NameBody = z.object({ name: z.string().min(1) });
  const lifecycle = async (c: Context, action: (backend: Backend) => Promise<void>): Promise<Response> => {
    const { name } = await readBody(c, NameBody);
    await action(supervisor.get(name));
    return c.json({ ok: true, server: gateway.serverList(new Set([name]))[0] });
  };
  app.post('/server/start', (c) => lifecycle(c, (b) => b.start()));
  app.post('/server/stop', (c) => lifecycle(c, (b) => b.stop()));
  app.post('/server/restart', (c) => lifecycle(c, (b) => b.restart()));

  app.get('/health', (c) => c.json(gateway.health()));

  return app;
}
