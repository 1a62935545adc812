import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ServerCapabilities,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { exposedName } from '../catalog/naming.js';
import { toGatewayError } from '../errors.js';
import { rpcFailure } from './rpc-error.js';
import type { GatewaySurface } from './surface.js';
import { sees, type View } from './view.js';

/** What this module reads and calls of the gateway. */
export type ResourceProxySources = Pick<GatewaySurface, 'catalog' | 'config' | 'logger' | 'router' | 'sessions' | 'supervisor'>;

/*
 * Resources, prompts and completion, proxied. On /mcp every backend's
 * resources appear with URIs prefixed `stonegate://<server>/<original>` and
 * prompts under `<server>__<name>`; on /mcp/{server} names and URIs are the
 * backend's own. Lists are fetched live (they change more often than tools);
 * one backend failing a list leaves it out of the answer instead of failing it.
 */

const Loose = z.looseObject({});
const PREFIX = 'stonegate://';
const PAGE_LIMIT = 100;

export function prefixUri(server: string, uri: string): string {
  return `${PREFIX}${server}/${uri}`;
}

/** Splits a prefixed URI into backend and original URI. */
export function unprefixUri(uri: string): { server: string; uri: string } | undefined {
  if (!uri.startsWith(PREFIX)) return undefined;
  const rest = uri.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  return { server: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}

/** Turns a gateway failure into the JSON-RPC error a resource/prompt request answers with; a backend's own error keeps its code. */
function rpcError(err: unknown): Error {
  if (err instanceof McpError) return rpcFailure(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
  const error = toGatewayError(err);
  const backendCode = error.details?.backend_code;
  if (error.code === 'BACKEND_ERROR' && typeof backendCode === 'number') return rpcFailure(backendCode, error.message.replace(/^.*? with error -?\d+: /, ''));
  const code = error.code === 'UNKNOWN_SERVER' || error.code === 'UNKNOWN_TOOL' ? ErrorCode.InvalidParams : ErrorCode.InternalError;
  return rpcFailure(code, `${error.code}: ${error.message}`, { code: error.code });
}

export function registerResourceProxy(server: Server, gateway: ResourceProxySources, view: View, capabilities: ServerCapabilities): void {
  const single = view.single;
  const sep = gateway.config.gateway.tool_separator;

  /** Backends in the view that announced a capability. */
  const backendsWith = (capability: 'resources' | 'prompts' | 'completions'): string[] =>
    gateway.supervisor
      .list()
      .map((b) => b.name)
      .filter((name) => sees(view, name) && gateway.catalog.meta(name)?.capabilities[capability] !== undefined);

  async function listAll(name: string, method: string, key: string, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    return gateway.router.forward(
      name,
      method,
      async (connection, options) => {
        const items: Record<string, unknown>[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < PAGE_LIMIT; page += 1) {
          const result = await connection.client.request({ method, params: cursor === undefined ? {} : { cursor } }, Loose, options);
          items.push(...((result[key] as Record<string, unknown>[] | undefined) ?? []));
          cursor = result.nextCursor as string | undefined;
          if (cursor === undefined || cursor === '') break;
        }
        return items;
      },
      signal,
    );
  }

  /** Gathers a list from every backend, renaming each item; a failing backend is logged and left out. */
  async function gather(
    capability: 'resources' | 'prompts',
    method: string,
    key: string,
    rename: (srv: string, item: Record<string, unknown>) => Record<string, unknown>,
    signal: AbortSignal,
  ) {
    const names = backendsWith(capability);
    const lists = await Promise.all(
      names.map((name) =>
        listAll(name, method, key, signal).then(
          (items) => items.map((item) => (single === undefined ? rename(name, item) : item)),
          (err: unknown) => {
            gateway.logger.warn({ backend: name, method, error: (err as Error).message }, 'backend left out of a list');
            return [];
          },
        ),
      ),
    );
    return { [key]: lists.flat() };
  }

  /** Finds the backend and original URI of a URI the agent sent. */
  function route(uri: string): { server: string; uri: string } {
    if (single !== undefined) return { server: single, uri };
    const parts = unprefixUri(uri);
    if (parts === undefined || !sees(view, parts.server) || !gateway.supervisor.has(parts.server)) {
      throw rpcFailure(ErrorCode.InvalidParams, `Unknown resource: ${uri} (resources on this endpoint are named stonegate://<server>/<uri>)`);
    }
    return parts;
  }

  async function resolvePrompt(name: string, signal: AbortSignal): Promise<{ server: string; name: string }> {
    if (single !== undefined) return { server: single, name };
    for (const srv of backendsWith('prompts')) {
      if (!name.startsWith(`${srv}${sep}`)) continue;
      const original = name.slice(srv.length + sep.length);
      if (exposedName(srv, original, sep) === name) return { server: srv, name: original };
      // A shortened or cleaned name: find it in the backend's list.
      const prompts = await listAll(srv, 'prompts/list', 'prompts', signal).catch(() => []);
      const match = prompts.find((p) => exposedName(srv, String(p.name), sep) === name);
      if (match !== undefined) return { server: srv, name: String(match.name) };
    }
    throw rpcFailure(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }

  // Reads, prompts and completions of a backend with affinity = "session"
  // go to the session's own connection, like its tool calls; lists and
  // subscriptions are the backend's, shared (subscriptions are counted per
  // backend URI across sessions).
  const forward = async (
    srv: string,
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
    shared = false,
  ): Promise<Record<string, unknown>> => {
    const session = shared ? undefined : view.session;
    try {
      return await gateway.router.forward(srv, method, (connection, options) => connection.client.request({ method, params }, Loose, options), signal, session);
    } catch (err) {
      throw rpcError(err);
    }
  };

  if (capabilities.resources !== undefined) {
    server.setRequestHandler(ListResourcesRequestSchema, (_request, extra) =>
      gather(
        'resources',
        'resources/list',
        'resources',
        (srv, r) => ({ ...r, uri: prefixUri(srv, String(r.uri)), name: `${srv}${sep}${String(r.name)}` }),
        extra.signal,
      ),
    );
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (_request, extra) =>
      gather(
        'resources',
        'resources/templates/list',
        'resourceTemplates',
        (srv, t) => ({ ...t, uriTemplate: prefixUri(srv, String(t.uriTemplate)), name: `${srv}${sep}${String(t.name)}` }),
        extra.signal,
      ),
    );
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
      const target = route(request.params.uri);
      const result = await forward(target.server, 'resources/read', { ...request.params, uri: target.uri }, extra.signal);
      if (single !== undefined) return result;
      const contents = (result.contents as Record<string, unknown>[] | undefined) ?? [];
      return { ...result, contents: contents.map((c) => ({ ...c, uri: prefixUri(target.server, String(c.uri)) })) };
    });
    if (capabilities.resources.subscribe === true) {
      server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
        const target = route(request.params.uri);
        await forward(target.server, 'resources/subscribe', { uri: target.uri }, extra.signal, true);
        gateway.sessions.subscribe(server, target.server, target.uri);
        return {};
      });
      server.setRequestHandler(UnsubscribeRequestSchema, async (request, extra) => {
        const target = route(request.params.uri);
        gateway.sessions.unsubscribe(server, target.server, target.uri);
        // The backend keeps the subscription while another session holds it.
        if (!gateway.sessions.isSubscribed(target.server, target.uri))
          await forward(target.server, 'resources/unsubscribe', { uri: target.uri }, extra.signal, true);
        return {};
      });
    }
  }

  if (capabilities.prompts !== undefined) {
    server.setRequestHandler(ListPromptsRequestSchema, (_request, extra) =>
      gather('prompts', 'prompts/list', 'prompts', (srv, p) => ({ ...p, name: exposedName(srv, String(p.name), sep) }), extra.signal),
    );
    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
      const target = await resolvePrompt(request.params.name, extra.signal);
      return forward(target.server, 'prompts/get', { ...request.params, name: target.name }, extra.signal);
    });
  }

  if (capabilities.completions !== undefined) {
    server.setRequestHandler(CompleteRequestSchema, async (request, extra) => {
      const ref = request.params.ref;
      if (ref.type === 'ref/prompt') {
        const target = await resolvePrompt(ref.name, extra.signal);
        return forward(target.server, 'completion/complete', { ...request.params, ref: { ...ref, name: target.name } }, extra.signal);
      }
      const uri = (ref as { uri: string }).uri;
      if (single !== undefined) return forward(single, 'completion/complete', request.params, extra.signal);
      const target = unprefixUri(uri);
      if (target === undefined || !sees(view, target.server)) throw rpcFailure(ErrorCode.InvalidParams, `Unknown resource template: ${uri}`);
      return forward(target.server, 'completion/complete', { ...request.params, ref: { ...ref, uri: target.uri } }, extra.signal);
    });
  }
}
