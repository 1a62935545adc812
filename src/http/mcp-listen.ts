import { AsyncLocalStorage } from 'node:async_hooks';
import { InMemoryServerEventBus, type ServerEvent, type ServerEventBus } from '@modelcontextprotocol/server';
import type { CapClient } from '../auth/client-caps.js';
import { subscribeBackend, unsubscribeBackend } from '../mcp/backend-subscriptions.js';
import { type CoordListenBus, type CoordPushSources, holdCoordListen } from '../mcp/coord-push.js';
import { prefixUri, unprefixUri } from '../mcp/resource-proxy.js';
import type { SessionServerSources } from '../mcp/session-server.js';
import { sees, type View } from '../mcp/view.js';

/*
 * subscriptions/listen, the 2026-07-28 era's replacement for the GET
 * stream. The SDK's listen router (inside createMcpHandler) acknowledges,
 * filters and tags; the gateway decides what each stream may hear, holds a
 * stream slot for it, and keeps the backends' resource subscriptions that
 * its `resourceSubscriptions` name.
 */

/** What listen streams read and call of the gateway. */
export type ListenSources = Pick<SessionServerSources, 'catalog' | 'logger' | 'router' | 'security' | 'sessions' | 'supervisor'> & CoordPushSources;

/**
 * The event bus of the gateway's listen streams. Each stream's listener is
 * registered while its request runs (`scope.run`), so it knows the view of
 * that request; an event from a backend reaches only the streams whose view
 * shows that backend (and a tools list_changed not the `?expose=meta`
 * ones, which list no backend tools), as for 2025 sessions.
 */
export class ViewBus implements ServerEventBus, CoordListenBus {
  readonly scope = new AsyncLocalStorage<View>();
  readonly #inner: InMemoryServerEventBus;
  readonly #from = new WeakMap<ServerEvent, string>();
  /** [coord-push] The streams an event is only for (a thread's update: its agent's, coord-push.ts). */
  readonly #only = new WeakMap<ServerEvent, (view: View) => boolean>();

  constructor(onerror?: (error: Error) => void) {
    this.#inner = new InMemoryServerEventBus(onerror);
  }

  /** Publishes an event that comes from one backend. */
  publishFrom(backend: string, event: ServerEvent): void {
    this.#from.set(event, backend);
    this.#inner.publish(event);
  }

  publish(event: ServerEvent): void {
    this.#inner.publish(event);
  }

  /** [coord-push] A coord resource changed (coord://inbox/…, coord://threads/…). */
  publishCoord(uri: string, only: (view: View) => boolean): void {
    const event: ServerEvent = { kind: 'resource_updated', uri };
    this.#only.set(event, only);
    this.publishFrom('coord', event);
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    const view = this.scope.getStore();
    return this.#inner.subscribe((event) => {
      const backend = this.#from.get(event);
      if (view !== undefined && backend !== undefined && !hears(view, backend, event)) return;
      if (this.#only.get(event)?.(view ?? NO_VIEW) === false) return;
      listener(event);
    });
  }
}

/** A stream registered outside a request's scope: no view, so no coord resource was checked for it. */
const NO_VIEW: View = { expose: 'meta', servers: new Set(), single: undefined, caller: undefined };

function hears(view: View, backend: string, event: ServerEvent): boolean {
  if (!sees(view, backend)) return false;
  return !(event.kind === 'tools_list_changed' && view.single === undefined && view.expose === 'meta');
}

/** Feeds the bus from the backends: list_changed, and resources/updated of a URI a stream watches (in each view's naming). */
export function feedListenStreams(gateway: ListenSources, bus: ViewBus): void {
  gateway.sessions.onListChanged((backend, what) => {
    const kind = what === 'tools' ? 'tools_list_changed' : what === 'prompts' ? 'prompts_list_changed' : 'resources_list_changed';
    bus.publishFrom(backend, { kind });
  });
  gateway.sessions.onResourceUpdated((backend, uri) => {
    // /mcp names it stonegate://<backend>/<uri>, /mcp/<backend> by the backend's own URI.
    bus.publishFrom(backend, { kind: 'resource_updated', uri: prefixUri(backend, uri) });
    bus.publishFrom(backend, { kind: 'resource_updated', uri });
  });
}

/** The resource URIs a subscriptions/listen body asks to watch (the SDK validates the rest of it). */
function resourceSubscriptions(body: unknown): string[] {
  const uris = (body as { params?: { notifications?: { resourceSubscriptions?: unknown } } }).params?.notifications?.resourceSubscriptions;
  return Array.isArray(uris) ? uris.filter((uri): uri is string => typeof uri === 'string') : [];
}

/** The backend and original URI behind a URI as the view names it, when the view shows that backend and it takes subscriptions. */
function target(gateway: ListenSources, view: View, uri: string): { server: string; uri: string } | undefined {
  const parts = view.single === undefined ? unprefixUri(uri) : { server: view.single, uri };
  if (parts === undefined || !sees(view, parts.server) || !gateway.supervisor.has(parts.server)) return undefined;
  return gateway.catalog.meta(parts.server)?.capabilities.resources?.subscribe === true ? parts : undefined;
}

/** Subscribes or unsubscribes the backend, in its era (backend-subscriptions.ts); a failure is logged (the stream stays, quiet for that URI). */
async function tell(gateway: ListenSources, method: string, parts: { server: string; uri: string }, signal?: AbortSignal): Promise<void> {
  try {
    const change = method === 'resources/subscribe' ? subscribeBackend : unsubscribeBackend;
    await change(gateway.router, parts.server, parts.uri, signal);
  } catch (err) {
    gateway.logger.warn({ backend: parts.server, uri: parts.uri, error: (err as Error).message }, `${method} for a 2026-07-28 listen stream failed`);
  }
}

/**
 * What one listen stream holds: a stream slot of its client (RATE_LIMITED
 * over `[gateway] max_streams_per_client` or `max_streams`: thrown before
 * anything else), and each resource URI it names that the view shows,
 * subscribed on its backend before the stream's acknowledgement goes out
 * (shared with 2025 sessions and other streams: the backend is subscribed
 * once, and unsubscribed when nothing watches the URI any more). The
 * returned function (idempotent) lets it all go, once the stream ends.
 */
export async function holdListen(
  gateway: ListenSources,
  client: CapClient,
  body: unknown,
  view: View,
  signal: AbortSignal,
  bus?: CoordListenBus,
): Promise<() => void> {
  const slot = gateway.security.caps.acquire('stream', client);
  const releases: (() => void)[] = [slot];
  // [coord-push] coord://inbox/{agent} and coord://threads/{id}: checked (a refusal refuses the stream), then heard from the coord hub.
  const coord =
    bus === undefined
      ? undefined
      : await holdCoordListen(gateway, view, resourceSubscriptions(body), bus).catch((err: unknown) => {
          slot();
          throw err;
        });
  if (coord !== undefined) releases.push(coord);
  const subscribing: Promise<void>[] = [];
  for (const uri of new Set(resourceSubscriptions(body))) {
    const parts = target(gateway, view, uri);
    if (parts === undefined) continue;
    const first = !gateway.sessions.isSubscribed(parts.server, parts.uri);
    const release = gateway.sessions.holdListen(parts.server, parts.uri);
    releases.push(() => {
      release();
      if (!gateway.sessions.isSubscribed(parts.server, parts.uri)) void tell(gateway, 'resources/unsubscribe', parts);
    });
    if (first) subscribing.push(tell(gateway, 'resources/subscribe', parts, signal));
  }
  await Promise.all(subscribing);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const release of releases) release();
  };
}
