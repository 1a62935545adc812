import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILTINS } from '../../src/builtins/registry.js';
import { buildConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { declaredRole, isMiddleware, isProbe, type Role, registeredRole, role } from '../../src/http/route-role.js';

// Issue #20 item 5: every route declares its role where it is defined; a
// route without one is refused to everyone but admin (default deny).

const ADMIN_TOKEN = 'admin-token-0123456789';
const AGENT_TOKEN = 'agent-token-0123456789';
const dirs: string[] = [];
const gateways: Gateway[] = [];

// What serve does before it builds a Gateway (loadBuiltins): the default config mounts coord.
beforeAll(async () => {
  for (const builtin of BUILTINS) await builtin.load?.();
});

function gateway(): Gateway {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-roles-'));
  dirs.push(dir);
  const config = buildConfig(
    {
      server: { data_dir: dir },
      auth: {
        tokens: [
          { name: 'root', role: 'admin', token: ADMIN_TOKEN },
          { name: 'bot', role: 'agent', token: AGENT_TOKEN },
        ],
      },
    },
    '(test)',
    dir,
  );
  const gw = new Gateway({ config, logger: pino({ level: 'silent' }) });
  gateways.push(gw);
  return gw;
}

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Every route of an app (middleware left out) with the role declared for it; null when none is. */
function routeRoles(app: Hono): Map<string, Role | null> {
  const declared = new Map<string, Role>();
  for (const route of app.routes) {
    const found = declaredRole(route.handler);
    if (found !== undefined && !declared.has(`${route.method} ${route.path}`)) declared.set(`${route.method} ${route.path}`, found);
  }
  const roles = new Map<string, Role | null>();
  for (const route of app.routes) {
    if (isMiddleware(route.handler) || declaredRole(route.handler) !== undefined) continue;
    const key = `${route.method} ${route.path}`;
    roles.set(key, declared.get(key) ?? null);
  }
  return roles;
}

/** The routes whose first role marker is a probe's (public, Host/Origin checked). */
function probeRoutes(app: Hono): string[] {
  const found = new Map<string, boolean>();
  for (const route of app.routes) {
    const key = `${route.method} ${route.path}`;
    if (declaredRole(route.handler) !== undefined && !found.has(key)) found.set(key, isProbe(route.handler));
  }
  return [...found].filter(([, probe]) => probe).map(([key]) => key);
}

function request(app: Hono, method: string, path: string, token?: string): Promise<Response> | Response {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  if (method === 'POST') headers['content-type'] = 'application/json';
  return app.request(path, { method, headers, ...(method === 'POST' ? { body: '{}' } : {}) });
}

describe('roles on the routes', () => {
  let gw: Gateway;
  beforeEach(() => {
    gw = gateway();
  });

  it('every registered route of the real app declares a role', () => {
    const roles = routeRoles(gw.app);
    expect(roles.size).toBeGreaterThan(40);
    const undeclared = [...roles].filter(([, r]) => r === null).map(([key]) => key);
    expect(undeclared).toEqual([]);
    const having = (wanted: Role): string[] =>
      [...roles]
        .filter(([, r]) => r === wanted)
        .map(([key]) => key)
        .sort();
    // What the string list in security.ts held before, now declared on the routes.
    expect(having('admin')).toEqual(
      [
        'POST /server/add',
        'POST /server/remove',
        'POST /server/start',
        'POST /server/stop',
        'POST /server/restart',
        'POST /server/reset',
        'POST /server/approve',
        'GET /config',
        'POST /config/reload',
        'GET /log',
        'GET /log/export',
        'GET /log/stream',
      ].sort(),
    );
    // The probes, and the protected-resource metadata of [auth.oauth] (issue #26): public, Host/Origin checked.
    const probes = [
      'GET /livez',
      'GET /readyz',
      'GET /coord/livez',
      'GET /coord/readyz',
      'GET /.well-known/oauth-protected-resource',
      'GET /.well-known/oauth-protected-resource/*',
    ];
    expect(having('public')).toEqual(['GET /health', 'GET /ui', 'GET /ui/', 'GET /ui/:file', ...probes].sort());
    // The probes are public but keep the Host/Origin check (probe()); /health and the dashboard's files skip it.
    expect(probeRoutes(gw.app).sort()).toEqual([...probes].sort());
    // The coordination routes are mounted from backends/coord, which cannot declare roles: the mount declares agent (its probes public).
    const coord = [...roles].filter(([key]) => key.includes(' /coord/') && !probes.includes(key));
    // The dashboard's read of coordination (issue #29): an agent route like the rest of /coord.
    expect(roles.get('GET /coord/board')).toBe('agent');
    expect(coord.length).toBeGreaterThan(20);
    expect(coord.every(([, r]) => r === 'agent')).toBe(true);
    // #33: the dashboard's history routes are agent routes, scoped to the token's backends.
    for (const key of ['GET /server/history', 'GET /stats/history']) expect(roles.get(key), key).toBe('agent');
    for (const key of ['POST /call', 'GET /tools', 'GET /server/list', 'GET /metrics', 'POST /mcp', 'POST /views/:view/mcp', 'GET /sse', 'POST /messages'])
      expect(roles.get(key), key).toBe('agent');
    // #30: the hot path (hot-routes.ts) applies the role each hot route declares, read back the same way.
    for (const [method, path] of [
      ['POST', '/call'],
      ['POST', '/mcp'],
      ['POST', '/mcp/:server'],
    ])
      expect(registeredRole(gw.app, method as string, path as string), path).toBe(roles.get(`${method} ${path}`));
    expect(registeredRole(gw.app, 'POST', '/server/add')).toBe('admin');
    gw.app.post('/undeclared-hot', (c) => c.json({ ok: true }));
    expect(registeredRole(gw.app, 'POST', '/undeclared-hot')).toBeUndefined();
  });

  it('refuses a route added without a role to every token but admin', async () => {
    gw.app.get('/undeclared', (c) => c.json({ ok: true }));
    gw.app.all('/undeclared-any', (c) => c.json({ ok: true }));
    gw.app.get('/declared', role('agent'), (c) => c.json({ ok: true }));
    expect(routeRoles(gw.app).get('GET /undeclared')).toBeNull();
    expect(routeRoles(gw.app).get('ALL /undeclared-any')).toBeNull();

    for (const [method, path] of [
      ['GET', '/undeclared'],
      ['POST', '/undeclared-any'],
    ] as const) {
      const agent = await request(gw.app, method, path, AGENT_TOKEN);
      expect(agent.status).toBe(403);
      expect(await agent.json()).toEqual({
        code: 'FORBIDDEN',
        error: `${method} ${path} declares no role, so only an admin token may use it; token 'bot' has role agent`,
      });
      expect((await request(gw.app, method, path)).status).toBe(401);
      const admin = await request(gw.app, method, path, ADMIN_TOKEN);
      expect(admin.status).toBe(200);
    }
    expect((await request(gw.app, 'GET', '/declared', AGENT_TOKEN)).status).toBe(200);
  });

  it('answers a path no route serves with 404 to a valid token, 401 without one', async () => {
    const agent = await request(gw.app, 'GET', '/no/such/route', AGENT_TOKEN);
    expect(agent.status).toBe(404);
    expect(((await agent.json()) as { code: string }).code).toBe('UNKNOWN_ROUTE');
    expect((await request(gw.app, 'GET', '/no/such/route')).status).toBe(401);
  });

  it('reads the declarations at request time: public without a token, agent and admin by token', async () => {
    expect((await request(gw.app, 'GET', '/health')).status).not.toBe(401);
    expect((await request(gw.app, 'GET', '/ui/')).status).toBe(200);
    // The metadata routes are public; without [auth.oauth] there is no metadata (404, not 401).
    expect((await request(gw.app, 'GET', '/.well-known/oauth-protected-resource/mcp')).status).toBe(404);
    expect((await request(gw.app, 'GET', '/tools')).status).toBe(401);
    expect((await request(gw.app, 'GET', '/tools', AGENT_TOKEN)).status).toBe(200);
    expect((await request(gw.app, 'GET', '/stats/history')).status).toBe(401);
    expect((await request(gw.app, 'GET', '/stats/history', AGENT_TOKEN)).status).toBe(200);
    expect((await request(gw.app, 'GET', '/config', AGENT_TOKEN)).status).toBe(403);
    expect((await request(gw.app, 'HEAD', '/config', AGENT_TOKEN)).status).toBe(403);
    expect((await request(gw.app, 'GET', '/config', ADMIN_TOKEN)).status).toBe(200);
    expect((await request(gw.app, 'GET', '/coord/agent/discover', AGENT_TOKEN)).status).not.toBe(403);
    expect((await request(gw.app, 'GET', '/coord/board')).status).toBe(401);
    expect((await request(gw.app, 'GET', '/coord/board', AGENT_TOKEN)).status).toBe(200);
    // Issue #28: a reload is an admin's, behind the Host/Origin check; this gateway has no file to read again (422).
    expect((await request(gw.app, 'POST', '/config/reload')).status).toBe(401);
    expect((await request(gw.app, 'POST', '/config/reload', AGENT_TOKEN)).status).toBe(403);
    const reload = await request(gw.app, 'POST', '/config/reload', ADMIN_TOKEN);
    expect(reload.status).toBe(422);
    expect(((await reload.json()) as { error: string }).error).toContain('no such config file');
    const rebound = await gw.app.request('http://evil.example/config/reload', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', host: 'evil.example' },
      body: '{}',
    });
    expect(rebound.status).toBe(403);
  });

  it('[[views]] /views/NAME/mcp: Host/Origin first, then a token (401 in JSON-RPC), then the view (404 UNKNOWN_VIEW)', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const post = (headers: Record<string, string>): Response | Promise<Response> =>
      gw.app.request('/views/nope/mcp', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body,
      });
    const foreign = await post({ authorization: `Bearer ${AGENT_TOKEN}`, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { data: { code: string } } }).error.data.code).toBe('FORBIDDEN');
    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { jsonrpc: string }).jsonrpc).toBe('2.0');
    const unknown = await post({ authorization: `Bearer ${AGENT_TOKEN}` });
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(await unknown.json())).toContain('UNKNOWN_VIEW');
  });
});
