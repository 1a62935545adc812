import { isInputRequiredResult, ProtocolError } from '@modelcontextprotocol/client';
import type {
  CompleteResult,
  GetPromptResult,
  ListPromptsResult,
  ListResourcesResult,
  ListResourceTemplatesResult,
  ReadResourceResult,
  Server,
  ServerCapabilities,
  ServerContext,
} from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { exposedName } from '../catalog/naming.js';
import { rpcFailure, toGatewayError } from '../errors.js';
import { paramsFor, roundOf, withoutEnvelope } from '../pool/backend-era.js';
import type { Downstream } from '../pool/connection.js';
import { inputRounds } from '../router/input-rounds.js';
import { subscribeBackend, unsubscribeBackend } from './backend-subscriptions.js';
import { coordResource, pushFailure } from './coord-push.js';
import type { GatewaySurface } from './surface.js';
import { sees, type View } from './view.js';

/** What this module reads and calls of the gateway. */
export type ResourceProxySources = Pick<GatewaySurface, 'builtins' | 'catalog' | 'config' | 'logger' | 'router' | 'security' | 'sessions' | 'supervisor'>;

/*
 * Resources, prompts and completion, proxied. On /mcp every backend's
 * resources appear with URIs prefixed `stonegate://<server>/<original>` and
 * prompts under `<server>__<name>`; on /mcp/{server} names and URIs are the
 * backend's own. Lists are fetched live (they change more often than tools);
 * one backend failing a list leaves it out of the answer instead of failing it.
 */

const Loose = z.looseObject({});

/**
 * A backend's answer passed on as the result type of its method: the proxy
 * forwards what the backend sent (checked by the agent's client), it does
 * not re-parse it.
 */
async function as<R>(answer: Promise<Record<string, unknown>>): Promise<R> {
  return (await answer) as R;
}
const PREFIX = 'stonegate://';
const PAGE_LIMIT = 100;

/** MCP Apps hosts render only `ui://` URIs: those keep their scheme, with the backend as the first segment (apps.ts). */
const UI = 'ui://';

export function prefixUri(server: string, uri: string): string {
  return uri.startsWith(UI) ? `${UI}${server}/${uri.slice(UI.length)}` : `${PREFIX}${server}/${uri}`;
}

/** Splits a prefixed URI into backend and original URI. */
export function unprefixUri(uri: string): { server: string; uri: string } | undefined {
  const ui = uri.startsWith(UI);
  if (!ui && !uri.startsWith(PREFIX)) return undefined;
  const rest = uri.slice((ui ? UI : PREFIX).length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  return { server: rest.slice(0, slash), uri: `${ui ? UI : ''}${rest.slice(slash + 1)}` };
}

/** Turns a gateway failure into the JSON-RPC error a resource/prompt request answers with; a backend's own error keeps its code. */
function rpcError(err: unknown): Error {
  if (err instanceof ProtocolError) return rpcFailure(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
  const error = toGatewayError(err);
  const backendCode = error.details?.backend_code;
  // [mcp-bridge] With the backend's own data (a -32021's requiredCapabilities).
  const data = error.cause instanceof ProtocolError ? error.cause.data : undefined;
  if (error.code === 'BACKEND_ERROR' && typeof backendCode === 'number')
    return rpcFailure(backendCode, error.message.replace(/^.*? with error -?\d+: /, ''), data);
  const code = error.code === 'UNKNOWN_SERVER' || error.code === 'UNKNOWN_TOOL' ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.InternalError;
  return rpcFailure(code, `${error.code}: ${error.message}`, { code: error.code });
}

/** JSON-RPC code of "resource not found" in the 2025 era (the 2026-07-28 era says -32602 with data.uri). */
const RESOURCE_NOT_FOUND = -32002;

/** A resources/read failure that says the resource is not there names the URI the agent asked for in data.uri. */
function notFoundNaming(err: unknown, uri: string): unknown {
  const failure = err as { code?: unknown; data?: unknown };
  if (failure.code !== RESOURCE_NOT_FOUND && failure.code !== ProtocolErrorCode.InvalidParams) return err;
  const data = failure.data !== null && typeof failure.data === 'object' ? failure.data : {};
  return Object.assign(err as object, { data: { ...data, uri } });
}

export function registerResourceProxy(
  server: Server,
  gateway: ResourceProxySources,
  view: View,
  capabilities: ServerCapabilities,
  downstreamOf?: (ctx: ServerContext) => Downstream,
): void {
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
      throw rpcFailure(
        ProtocolErrorCode.InvalidParams,
        `Unknown resource: ${uri} (resources on this endpoint are named stonegate://<server>/<uri>, or ui://<server>/<path> for ui://<path>)`,
        { uri },
      );
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
    throw rpcFailure(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }

  // Reads, prompts and completions of a backend with affinity = "session"
  // go to the session's own connection, like its tool calls; lists and
  // subscriptions are the backend's, shared (subscriptions are counted per
  // backend URI across sessions: backend-subscriptions.ts).
  const forward = async (srv: string, method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> => {
    const session = view.session;
    try {
      return await gateway.router.forward(
        srv,
        method,
        async (connection, options) => withoutEnvelope(connection, await connection.client.request({ method, params }, Loose, options)),
        signal,
        session,
      );
    } catch (err) {
      throw rpcError(err);
    }
  };

  /**
   * [mcp-bridge] A prompts/get or resources/read, which a 2026-07-28 backend
   * may answer with input_required: told the caller's capabilities, its
   * input_required relayed to a 2026-07-28 caller or answered round by
   * round for a 2025 one (router/input-rounds.ts).
   */
  const interactive = async (srv: string, method: string, params: Record<string, unknown>, ctx: ServerContext): Promise<Record<string, unknown>> => {
    const downstream = downstreamOf?.(ctx);
    const context = { server: srv, what: method, downstream, roots: () => gateway.supervisor.get(srv).config.roots };
    try {
      return await inputRounds(context, roundOf(ctx.mcpReq), (round) =>
        gateway.router.forward(
          srv,
          method,
          async (connection, options) =>
            withoutEnvelope(
              connection,
              // [otel] With tracing on, the gateway's client span (options.trace) replaces the caller's context, its baggage kept.
              await connection.client.request(
                {
                  method,
                  params: paramsFor(
                    connection,
                    params,
                    downstream,
                    round,
                    options.trace === undefined ? downstream?.traceContext : { ...downstream?.traceContext, ...options.trace },
                  ),
                },
                Loose,
                {
                  ...options,
                  allowInputRequired: true,
                },
              ),
            ),
          ctx.mcpReq.signal,
          view.session,
        ),
      );
    } catch (err) {
      throw rpcError(err);
    }
  };

  if (capabilities.resources !== undefined) {
    server.setRequestHandler('resources/list', async (_request, ctx) =>
      as<ListResourcesResult>(
        gather(
          'resources',
          'resources/list',
          'resources',
          (srv, r) => ({ ...r, uri: prefixUri(srv, String(r.uri)), name: `${srv}${sep}${String(r.name)}` }),
          ctx.mcpReq.signal,
        ),
      ),
    );
    server.setRequestHandler('resources/templates/list', async (_request, ctx) =>
      as<ListResourceTemplatesResult>(
        gather(
          'resources',
          'resources/templates/list',
          'resourceTemplates',
          (srv, t) => ({ ...t, uriTemplate: prefixUri(srv, String(t.uriTemplate)), name: `${srv}${sep}${String(t.name)}` }),
          ctx.mcpReq.signal,
        ),
      ),
    );
    server.setRequestHandler('resources/read', async (request, ctx) => {
      // [coord-push] coord://inbox/{agent} and coord://threads/{id} are the gateway's own (coord-push.ts).
      const coord = coordResource(gateway, view, request.params.uri);
      if (coord !== undefined) return coord.read(view, request.params.uri).catch((err: unknown) => Promise.reject(pushFailure(err)));
      const target = route(request.params.uri);
      const result = await interactive(target.server, 'resources/read', { ...request.params, uri: target.uri }, ctx).catch((err: unknown) => {
        throw notFoundNaming(err, request.params.uri);
      });
      if (single !== undefined || isInputRequiredResult(result)) return result as ReadResourceResult;
      const contents = (result.contents as Record<string, unknown>[] | undefined) ?? [];
      return { ...result, contents: contents.map((c) => ({ ...c, uri: prefixUri(target.server, String(c.uri)) })) } as ReadResourceResult;
    });
    if (capabilities.resources.subscribe === true) {
      server.setRequestHandler('resources/subscribe', async (request, ctx) => {
        const coord = coordResource(gateway, view, request.params.uri);
        if (coord !== undefined)
          return coord.subscribe(server, view, request.params.uri).then(
            () => ({}),
            (err: unknown) => Promise.reject(pushFailure(err)),
          );
        const target = route(request.params.uri);
        // [mcp-ext] In the backend's era: a 2026-07-28 backend is subscribed with a listen stream.
        await subscribeBackend(gateway.router, target.server, target.uri, ctx.mcpReq.signal).catch((err: unknown) => {
          throw rpcError(err);
        });
        gateway.sessions.subscribe(server, target.server, target.uri);
        return {};
      });
      server.setRequestHandler('resources/unsubscribe', async (request, ctx) => {
        const coord = coordResource(gateway, view, request.params.uri);
        if (coord !== undefined) return coord.unsubscribe(view, request.params.uri);
        const target = route(request.params.uri);
        gateway.sessions.unsubscribe(server, target.server, target.uri);
        // The backend keeps the subscription while another session holds it.
        if (!gateway.sessions.isSubscribed(target.server, target.uri))
          await unsubscribeBackend(gateway.router, target.server, target.uri, ctx.mcpReq.signal).catch((err: unknown) => {
            throw rpcError(err);
          });
        return {};
      });
    }
  }

  if (capabilities.prompts !== undefined) {
    server.setRequestHandler('prompts/list', async (_request, ctx) =>
      as<ListPromptsResult>(
        gather('prompts', 'prompts/list', 'prompts', (srv, p) => ({ ...p, name: exposedName(srv, String(p.name), sep) }), ctx.mcpReq.signal),
      ),
    );
    server.setRequestHandler('prompts/get', async (request, ctx) => {
      const target = await resolvePrompt(request.params.name, ctx.mcpReq.signal);
      return as<GetPromptResult>(interactive(target.server, 'prompts/get', { ...request.params, name: target.name }, ctx));
    });
  }

  if (capabilities.completions !== undefined) {
    server.setRequestHandler('completion/complete', async (request, ctx) => {
      const ref = request.params.ref;
      if (ref.type === 'ref/prompt') {
        const target = await resolvePrompt(ref.name, ctx.mcpReq.signal);
        return as<CompleteResult>(forward(target.server, 'completion/complete', { ...request.params, ref: { ...ref, name: target.name } }, ctx.mcpReq.signal));
      }
      const uri = (ref as { uri: string }).uri;
      if (single !== undefined) return as<CompleteResult>(forward(single, 'completion/complete', request.params, ctx.mcpReq.signal));
      const target = unprefixUri(uri);
      if (target === undefined || !sees(view, target.server)) throw rpcFailure(ProtocolErrorCode.InvalidParams, `Unknown resource template: ${uri}`);
      return as<CompleteResult>(forward(target.server, 'completion/complete', { ...request.params, ref: { ...ref, uri: target.uri } }, ctx.mcpReq.signal));
    });
  }
}
