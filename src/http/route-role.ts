import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

/**
 * Who may call a route when [auth] has tokens: anyone, without a token or
 * the Host/Origin check (`public`); any valid token (`agent`); an admin
 * token (`admin`). With auth off every route is open (Host/Origin still
 * apply to all but public ones).
 */
export type Role = 'public' | 'agent' | 'admin';

/** The handlers Hono stores for a route (a role marker is one of them). */
type RouteHandler = (...args: never[]) => unknown;

const roles = new WeakMap<RouteHandler, Role>();
const passing = new WeakSet<RouteHandler>();
/** Public markers that keep the Host/Origin check (probe()). */
const hostChecked = new WeakSet<RouteHandler>();

function marker(declared: Role): MiddlewareHandler {
  const mark: MiddlewareHandler = async (_c, next) => next();
  roles.set(mark, declared);
  return mark;
}

const MARKERS: Record<Role, MiddlewareHandler> = { public: marker('public'), agent: marker('agent'), admin: marker('admin') };
const PROBE = marker('public');
hostChecked.add(PROBE);

/**
 * Declares who may call the route it is registered with, where the route
 * is defined: `app.get('/tools', role('agent'), handler)`. It does nothing
 * when run; the security guard reads it before the route runs. A route
 * without one is admin-only (default deny). It must be registered on an
 * app without its own onError (Hono wraps such an app's handlers when it is
 * mounted); `mountWithRole` covers a sub-app that cannot declare roles.
 */
export function role(declared: Role): MiddlewareHandler {
  return MARKERS[declared];
}

/**
 * Declares a health probe (`/livez`, `/readyz`): public — no token, it
 * reveals nothing — but, unlike `role('public')`, the Host/Origin check
 * (the loopback guard) still applies, as on every route that is not
 * /health or the dashboard's static files.
 */
export function probe(): MiddlewareHandler {
  return PROBE;
}

/** Marks a handler given to `app.use` as middleware, which every route passes through: it is no route and needs no role. */
export function middleware(handler: MiddlewareHandler): MiddlewareHandler {
  passing.add(handler);
  return handler;
}

/**
 * A sub-app whose module cannot declare roles (a backend's: backends never
 * import src/) with `declared` for every route it has, so that the mount
 * that owns it declares them. Mount the result where the sub-app would go.
 */
export function mountWithRole(declared: Role, sub: Hono, probes: readonly string[] = []): Hono {
  const app = new Hono();
  const seen = new Set<string>();
  // `probes`: the sub-app's paths that are health probes (public, Host/Origin
  // checked). Their markers come first: the first marker a request matches
  // is its role, and a sub-app's middleware (`*`) matches every path.
  const ordered = [...sub.routes.filter((r) => probes.includes(r.path)), ...sub.routes.filter((r) => !probes.includes(r.path))];
  for (const route of ordered) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    app.on(route.method, route.path, probes.includes(route.path) ? PROBE : MARKERS[declared]);
  }
  app.route('/', sub);
  return app;
}

/** The role a handler declares, if it is a role marker. */
export function declaredRole(handler: RouteHandler): Role | undefined {
  return roles.get(handler);
}

/** Whether a handler is the marker of a probe (public, Host/Origin checked). */
export function isProbe(handler: RouteHandler): boolean {
  return hostChecked.has(handler);
}

/** Whether a handler was registered as middleware (`middleware()`). */
export function isMiddleware(handler: RouteHandler): boolean {
  return passing.has(handler);
}

/**
 * The role of the route a request reaches: the first role marker among the
 * handlers it matched, in registration order (each route registers its
 * marker before its handler). A route handler reached before any marker
 * declares nothing: `undefined`, which the guard treats as admin-only. A
 * request that matched only middleware reaches no route (it is answered
 * 404 UNKNOWN_ROUTE): it is treated as `agent`, so a valid token learns
 * that the route does not exist.
 */
export function routeRole(c: Context): Role | undefined {
  const found = routeMarker(c);
  if (found === null) return undefined;
  return found?.role ?? 'agent';
}

/** Whether the route a request reaches is a probe (probe()): public, but Host/Origin still checked. */
export function routeIsProbe(c: Context): boolean {
  const found = routeMarker(c);
  return found?.handler !== undefined && hostChecked.has(found.handler);
}

/** The first role marker the request matched; null when a route handler came first; undefined when only middleware matched. */
function routeMarker(c: Context): { role: Role; handler: RouteHandler } | null | undefined {
  for (const route of matchedRoutes(c)) {
    const declared = roles.get(route.handler);
    if (declared !== undefined) return { role: declared, handler: route.handler };
    if (!passing.has(route.handler)) return null;
  }
  return undefined;
}

/**
 * The role `app` declares for a route, by its method and path as registered
 * (`/mcp/:server`): the hot path (hot-routes.ts) applies the very role the
 * route carries. Undefined when none is declared (admin-only).
 */
export function registeredRole(app: Hono, method: string, path: string): Role | undefined {
  for (const route of app.routes) {
    if (route.path !== path || (route.method !== method && route.method !== 'ALL')) continue;
    const declared = roles.get(route.handler);
    if (declared !== undefined) return declared;
    if (!passing.has(route.handler)) return undefined;
  }
  return undefined;
}
