import type { Identity } from '../auth/tokens.js';
import type { ViewConfig } from '../config/views-schema.js';
import { GatewayError } from '../errors.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import { type NamedView, selectView } from './named-view.js';

/**
 * What one MCP session sees. `/mcp` shows every backend under prefixed
 * names (optionally limited with ?servers= and reduced to the gate tools
 * with ?expose=meta); `/mcp/{server}` shows one backend under its original
 * names, as a drop-in for connecting to it directly.
 */
export interface View {
  expose: 'all' | 'meta';
  /** Backends this session may list and call; undefined means all. */
  servers: ReadonlySet<string> | undefined;
  /** Set on a per-server endpoint: that backend, original names, no gate tools. */
  single: string | undefined;
  /** Who is calling, for the call log (the client's name from initialize). */
  caller: string | undefined;
  /** The authenticated identity whose async calls this session may see (none without auth). */
  owner?: string;
  /** The backends the session's token may use (undefined: all); calling outside it is FORBIDDEN, not UNKNOWN_SERVER. */
  allowed?: ReadonlySet<string>;
  /**
   * The MCP session, once registered with Sessions: backends with affinity =
   * "session" serve its calls on connections of its own. Undefined in
   * stateless mode, where each POST is a server of its own; for a 2026-07-28
   * request, the token's (Sessions.enterPrincipal).
   */
  session?: SessionRef;
  /**
   * Set for a 2026-07-28 request: its session is its token's (or, without
   * auth, ANONYMOUS), a backend's sampling and elicitation requests are
   * refused, and log messages need the request's logLevel.
   */
  modern?: boolean;
  /** [[views]]: the named view served (its tools, names and descriptions); undefined: none. */
  named?: NamedView;
}

/**
 * Builds a view from the endpoint, its query string (`expose`, `servers`)
 * and the request's token: `?servers=` can only narrow the token's list,
 * and with a token the caller and the owner of async calls are its name.
 */
export function viewFrom(
  query: URLSearchParams,
  defaults: { expose: 'all' | 'meta'; views?: () => readonly ViewConfig[] },
  single?: string,
  identity?: Identity,
  pathView?: string,
): View {
  // [[views]] The view asked for (/views/NAME/mcp, ?view=) or the token's; a per-server endpoint has none.
  const requested = pathView ?? query.get('view') ?? undefined;
  if (single !== undefined && (requested !== undefined || identity?.view !== undefined)) {
    throw new GatewayError(
      requested !== undefined ? 'BAD_REQUEST' : 'FORBIDDEN',
      requested !== undefined ? '/mcp/{server} serves no view: use /views/NAME/mcp' : `Token '${identity?.name}' is bound to a view: use /mcp`,
    );
  }
  const named = selectView(defaults.views ?? (() => []), requested, identity);
  const expose = query.get('expose') ?? named?.expose ?? defaults.expose;
  if (expose !== 'all' && expose !== 'meta') {
    throw new GatewayError('BAD_REQUEST', `expose must be 'all' or 'meta', got '${expose}'`);
  }
  if (named !== undefined) {
    // A view's backends, narrowed by ?servers= and the token's list; expose=meta may narrow an "all" view, never widen a "meta" one.
    const rest = new URLSearchParams(query);
    rest.delete('view');
    const base = viewFrom(
      rest,
      { expose: expose === 'all' && named.expose === 'meta' ? 'meta' : expose },
      undefined,
      identity && { ...identity, view: undefined },
    );
    const servers = named.servers === undefined ? base.servers : new Set([...named.servers].filter((s) => base.servers === undefined || base.servers.has(s)));
    return { ...base, expose: named.expose === 'meta' ? 'meta' : base.expose, servers, named };
  }
  const list = query.get('servers');
  const servers =
    single !== undefined
      ? new Set([single])
      : list === null || list.trim() === ''
        ? undefined
        : new Set(
            list
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s.length > 0),
          );
  const allowed = identity?.servers;
  const narrowed = allowed === undefined ? servers : new Set([...(servers ?? allowed)].filter((s) => allowed.has(s)));
  if (identity === undefined) return { expose, servers, single, caller: undefined };
  return { expose, servers: narrowed, single, caller: identity.name, owner: identity.name, allowed };
}

/** Whether the view includes a backend. */
export function sees(view: View, server: string): boolean {
  return view.servers === undefined || view.servers.has(server);
}
