import { GatewayError } from '../errors.js';

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
}

/** Builds a view from the endpoint and its query string (`expose`, `servers`). */
export function viewFrom(query: URLSearchParams, defaults: { expose: 'all' | 'meta' }, single?: string): View {
  const expose = query.get('expose') ?? defaults.expose;
  if (expose !== 'all' && expose !== 'meta') {
    throw new GatewayError('BAD_REQUEST', `expose must be 'all' or 'meta', got '${expose}'`);
  }
  const list = query.get('servers');
  const servers =
    single !== undefined
      ? new Set([single])
      : list === null || list.trim() === ''
        ? undefined
        : new Set(list.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  return { expose, servers, single, caller: undefined };
}

/** Whether the view includes a backend. */
export function sees(view: View, server: string): boolean {
  return view.servers === undefined || view.servers.has(server);
}
