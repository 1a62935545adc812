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

function marker(declared: Role): MiddlewareHandler {
  const mark: MiddlewareHandler = async (_c, next) => next();
  roles.set(mark, declared);
  return mark;
}

const MARKERS: Record<Role, MiddlewareHandler> = { public: marker('public'), agent: marker('agent'), admin: marker('admin') };

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
export function mountWithRole(declared: Role, sub: Hono): Hono {
  const app = new Hono();
  const seen = new Set<string>();
  for (const route of sub.routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    app.on(route.method, route.path, MARKERS[declared]);
  }
  app.route('/', sub);
  return app;
}

/** The role a handler declares, if it is a role marker. */
export function declaredRole(handler: RouteHandler): Role | undefined {
  return roles.get(handler);
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
  for (const route of matchedRoutes(c)) {
    const declared = roles.get(route.handler);
    if (declared !== undefined) return declared;
    if (!passing.has(route.handler)) return undefined;
  }
  return 'agent';
}
