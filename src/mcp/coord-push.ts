import type { Server, ServerCapabilities } from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import type { AgentNotice, AgentPush } from '../builtins/builtin-backend.js';
import { GatewayError, rpcFailure } from '../errors.js';
import type { GatewaySurface } from './surface.js';
import { sees, type View } from './view.js';

/*
 * [coord-push] Coordination pushed into agents' MCP sessions (docs/coordination.md#push).
 * The coordination backend turns its event stream into notices, one per
 * agent told (backends/coord/push-feed.ts: privacy and echo suppression
 * are decided there); this hub, one per gateway, fans them out:
 *
 * - 2025 sessions that resources/subscribe to coord://inbox/{agent} or
 *   coord://threads/{id} get notifications/resources/updated;
 * - 2025 sessions whose client declared the experimental capability
 *   `claude/channel` get notifications/claude/channel {content, meta};
 * - 2026-07-28 subscriptions/listen streams naming those URIs hear
 *   resource_updated on the listen bus (http/mcp-listen.ts).
 *
 * Each session has a bounded queue drained by its own loop, so a slow
 * session loses its oldest notices, never holds up another.
 */

/** What the hub reads of the gateway. */
export type CoordPushSources = Pick<GatewaySurface, 'builtins' | 'logger' | 'security' | 'sessions'>;

/** The capability a client declares (experimental) to be pushed Claude Code channel notifications. */
export const CHANNEL_CAPABILITY = 'claude/channel';
/** The clientInfo name of Claude Code, which hears channel notifications without declaring the capability. */
export const CLAUDE_CODE = 'claude-code';
/** Notifications one session may have waiting; past it the oldest go. */
export const SESSION_QUEUE = 256;

const INBOX = 'coord://inbox/';
const THREADS = 'coord://threads/';

interface Outgoing {
  method: string;
  params: Record<string, unknown>;
}

interface PushSession {
  server: Server;
  view: View;
  /** Subscribed URIs, each with the agent it was subscribed as. */
  uris: Map<string, string>;
  channel: boolean;
  queue: Outgoing[];
  sending: boolean;
  dropped: number;
}

/** A coord URI: an agent's inbox or a thread. */
export function coordTarget(uri: string): { kind: 'inbox' | 'thread'; id: string } | undefined {
  const kind = uri.startsWith(INBOX) ? 'inbox' : uri.startsWith(THREADS) ? 'thread' : undefined;
  if (kind === undefined) return undefined;
  const raw = uri.slice(kind === 'inbox' ? INBOX.length : THREADS.length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  return id === '' || id.includes('/') ? undefined : { kind, id };
}

/** The agent a view acts as for push: an agent token's name, else the agent the session bound (subscription or mux_register). */
const bound = new WeakMap<View, string>();

export class CoordPush {
  readonly #feed: AgentPush;
  readonly #gateway: CoordPushSources;
  readonly #sessions = new Map<View, PushSession>();
  readonly #ids = new Map<string, View>();
  readonly #streams = new Set<(notices: readonly AgentNotice[]) => void>();
  #unlisten: (() => void) | undefined;

  constructor(feed: AgentPush, gateway: CoordPushSources) {
    this.#feed = feed;
    this.#gateway = gateway;
    gateway.sessions.onEnded((id) => {
      const view = this.#ids.get(id);
      if (view === undefined) return;
      this.#ids.delete(id);
      this.#sessions.delete(view);
      this.#settle();
    });
  }

  /** The agent `view` acts as, when known: an agent token's name, else the one the session bound. */
  agentOf(view: View): string | undefined {
    const token = this.#gateway.security.tokens.byName(view.owner);
    return token?.role === 'agent' ? token.name : bound.get(view);
  }

  /** Binds a session without an agent token to the agent it registered (coord's mux_register). */
  noteRegister(view: View, agent: unknown): void {
    if (typeof agent !== 'string' || agent === '' || this.#gateway.security.tokens.byName(view.owner)?.role === 'agent') return;
    bound.set(view, agent.normalize('NFC'));
  }

  /**
   * The agent a coord URI is read or subscribed as, or a refusal: an agent
   * token only its own inbox and the threads it takes part in; without one
   * (no auth, or an admin token) any inbox, and threads as the session's
   * agent. The first inbox a session names binds it, when nothing did.
   */
  async authorize(view: View, uri: string, bind: boolean): Promise<{ kind: 'inbox' | 'thread'; id: string; agent: string }> {
    const target = coordTarget(uri);
    if (target === undefined) {
      throw new GatewayError(
        'BAD_REQUEST',
        `Unknown coordination resource '${uri}': the coordination resources are coord://inbox/{agent} and coord://threads/{id}`,
      );
    }
    const self = this.agentOf(view);
    if (target.kind === 'inbox') {
      const token = this.#gateway.security.tokens.byName(view.owner);
      if (token?.role === 'agent' && target.id !== token.name) {
        throw new GatewayError('FORBIDDEN', `Token '${token.name}' reads only its own inbox: coord://inbox/${encodeURIComponent(token.name)}`);
      }
      if (bind && self === undefined) bound.set(view, target.id);
      return { ...target, agent: target.id };
    }
    if (self === undefined) {
      throw new GatewayError(
        'BAD_REQUEST',
        `A thread is read as an agent: subscribe to coord://inbox/{you} or call coord__mux_register in this session first, then read ${uri}`,
      );
    }
    // FORBIDDEN for a non-participant, UNKNOWN_THREAD for no such thread: coord's own refusals.
    await this.#feed.thread(target.id, self);
    return { ...target, agent: self };
  }

  /** resources/read of a coord URI: the inbox (unread messages, recent notices) or the thread, as JSON. */
  async read(view: View, uri: string): Promise<{ contents: { uri: string; mimeType: string; text: string }[] }> {
    const target = await this.authorize(view, uri, false);
    const body = target.kind === 'inbox' ? await this.#feed.inbox(target.id) : await this.#feed.thread(target.id, target.agent);
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(body) }] };
  }

  /** resources/subscribe of a coord URI by a 2025 session. */
  async subscribe(server: Server, view: View, uri: string): Promise<void> {
    // A stateless POST's server is gone once it has answered: nothing could be told.
    if (view.session === undefined) {
      throw new GatewayError(
        'BAD_REQUEST',
        `${uri} cannot be subscribed to without an MCP session ([gateway] mcp_sessions = "stateless"): use subscriptions/listen (2026-07-28), or coord__mux_poll`,
      );
    }
    const target = await this.authorize(view, uri, true);
    this.#session(server, view).uris.set(uri, target.agent);
    this.#settle();
  }

  /** resources/unsubscribe of a coord URI (the empty result). */
  unsubscribe(view: View, uri: string): Record<string, never> {
    this.#sessions.get(view)?.uris.delete(uri);
    this.#settle();
    return {};
  }

  /** A 2025 session whose client declared claude/channel: pushed channel notifications for its agent. */
  channel(server: Server, view: View): void {
    const experimental = server.getClientCapabilities()?.experimental as Record<string, unknown> | undefined;
    // Claude Code listens for channel notifications of a server that declares the capability, without declaring one itself.
    const listens = experimental?.[CHANNEL_CAPABILITY] !== undefined || server.getClientVersion()?.name === CLAUDE_CODE;
    // Only where coord is in sight: a token (or ?servers=) that leaves coord out is told nothing of it.
    if (!listens || !sees(view, 'coord') || view.session === undefined) return;
    this.#session(server, view).channel = true;
    this.#settle();
  }

  /** Hears every page of notices while held (a subscriptions/listen stream); the returned function lets go. */
  hold(listener: (notices: readonly AgentNotice[]) => void): () => void {
    this.#streams.add(listener);
    this.#settle();
    return () => {
      this.#streams.delete(listener);
      this.#settle();
    };
  }

  #session(server: Server, view: View): PushSession {
    let session = this.#sessions.get(view);
    if (session === undefined) {
      session = { server, view, uris: new Map(), channel: false, queue: [], sending: false, dropped: 0 };
      this.#sessions.set(view, session);
      if (view.session !== undefined) this.#ids.set(view.session.id, view);
    }
    return session;
  }

  /** Reads the feed while someone may be told; lets it go after the last. */
  #settle(): void {
    const wanted = this.#streams.size > 0 || [...this.#sessions.values()].some((s) => s.channel || s.uris.size > 0);
    if (wanted && this.#unlisten === undefined) this.#unlisten = this.#feed.listen((notices) => this.#fanOut(notices));
    if (!wanted && this.#unlisten !== undefined) {
      this.#unlisten();
      this.#unlisten = undefined;
    }
  }

  #fanOut(notices: readonly AgentNotice[]): void {
    for (const listener of this.#streams) listener(notices);
    for (const session of this.#sessions.values()) {
      const agent = this.agentOf(session.view);
      for (const notice of notices) {
        for (const uri of notice.uris) {
          if (session.uris.get(uri) === notice.agent) this.#enqueue(session, { method: 'notifications/resources/updated', params: { uri } }, true);
        }
        if (session.channel && agent === notice.agent) this.#enqueue(session, { method: 'notifications/claude/channel', params: channelParams(notice) }, false);
      }
    }
  }

  #enqueue(session: PushSession, item: Outgoing, coalesce: boolean): void {
    // An update of a URI already waiting says nothing new.
    if (coalesce && session.queue.some((q) => q.method === item.method && q.params.uri === item.params.uri)) return;
    session.queue.push(item);
    if (session.queue.length > SESSION_QUEUE) {
      session.queue.shift();
      session.dropped += 1;
      if (session.dropped === 1 || session.dropped % 100 === 0) {
        this.#gateway.logger.warn({ session: session.view.session?.id, dropped: session.dropped }, 'coord push: a slow session lost its oldest notices');
      }
    }
    if (!session.sending) void this.#drain(session);
  }

  async #drain(session: PushSession): Promise<void> {
    session.sending = true;
    try {
      for (let item = session.queue.shift(); item !== undefined; item = session.queue.shift()) {
        // A session whose stream is gone cannot be told; it ends by itself (Sessions.onEnded).
        await session.server
          .notification(item)
          .catch((err: unknown) => this.#gateway.logger.debug({ error: (err as Error).message }, 'coord push: not delivered'));
      }
    } finally {
      session.sending = false;
    }
  }
}

/** A Claude Code channel notification's params: the text, and meta of identifier keys and string values. */
export function channelParams(notice: AgentNotice): Record<string, unknown> {
  // No `source`: Claude Code sets that attribute itself, to the server's name.
  const meta: Record<string, string> = { kind: notice.kind, to: notice.agent };
  for (const [key, value] of Object.entries(notice.meta)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) meta[key] = value;
  return { content: notice.content, meta };
}

const hubs = new WeakMap<object, CoordPush | null>();

/** The gateway's push hub, or undefined when no built-in pushes (coordination disabled). */
export function coordPush(gateway: CoordPushSources): CoordPush | undefined {
  const known = hubs.get(gateway.sessions);
  if (known !== undefined) return known ?? undefined;
  const feed = gateway.builtins.find((b) => b.mount?.push !== undefined)?.mount?.push;
  const hub = feed === undefined ? null : new CoordPush(feed, gateway);
  hubs.set(gateway.sessions, hub);
  return hub ?? undefined;
}

/** The hub when `uri` is a coord resource the view may name (/mcp or a view that shows coord), else undefined. */
export function coordResource(gateway: CoordPushSources, view: View, uri: string): CoordPush | undefined {
  if (!uri.startsWith('coord://') || view.single !== undefined || !sees(view, 'coord')) return undefined;
  return coordPush(gateway);
}

/** A refusal of a coord resource request as JSON-RPC -32602, naming the code (FORBIDDEN, UNKNOWN_THREAD, …) in the message and data. */
export function pushFailure(err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const name = typeof code === 'string' ? code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return rpcFailure(ProtocolErrorCode.InvalidParams, `${name}: ${message}`, { code: name });
}

/** Where a 2026-07-28 listen stream hears coord resources: the gateway's listen bus (http/mcp-listen.ts). */
export interface CoordListenBus {
  /** Publishes resources/updated of `uri` to the streams whose view `only` accepts. */
  publishCoord(uri: string, only: (view: View) => boolean): void;
}

/** The coord URIs each listen stream's view was checked for. */
const watched = new WeakMap<View, ReadonlySet<string>>();

/** Per bus: how many listen streams watch coord URIs, and the hold on the hub while any does. */
const listening = new WeakMap<CoordListenBus, { streams: number; release: () => void }>();

/**
 * A subscriptions/listen stream's coord URIs (`resourceSubscriptions`),
 * each authorized as for a 2025 subscription (a refusal is thrown: the
 * stream is refused). While any stream of the bus watches one, the hub
 * publishes every notice's URIs on the bus: the SDK's listen router passes
 * each only to the streams that named it; a thread's only to the streams of
 * the agent told (no echo to its author). Undefined when the body names none.
 */
export async function holdCoordListen(gateway: CoordPushSources, view: View, uris: readonly string[], bus: CoordListenBus): Promise<(() => void) | undefined> {
  const named = uris.filter((uri) => uri.startsWith('coord://'));
  const hub = named.length === 0 ? undefined : coordResource(gateway, view, named[0] ?? '');
  if (hub === undefined) return undefined;
  for (const uri of named) {
    try {
      await hub.authorize(view, uri, true);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw err instanceof GatewayError ? err : new GatewayError(code === 'FORBIDDEN' ? 'FORBIDDEN' : 'BAD_REQUEST', (err as Error).message);
    }
  }
  // Only the streams whose URIs were checked hear them (a stream on /mcp/coord names URIs unchecked), a thread's only for the agent told.
  watched.set(view, new Set(named));
  let held = listening.get(bus);
  if (held === undefined) {
    const release = hub.hold((notices) => {
      for (const notice of notices) {
        for (const uri of notice.uris) {
          const thread = uri.startsWith(THREADS);
          bus.publishCoord(uri, (v) => watched.get(v)?.has(uri) === true && (!thread || hub.agentOf(v) === notice.agent));
        }
      }
    });
    held = { streams: 0, release };
    listening.set(bus, held);
  }
  const entry = held;
  entry.streams += 1;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    entry.streams -= 1;
    if (entry.streams === 0) {
      entry.release();
      listening.delete(bus);
    }
  };
}

/**
 * A 2025 session's capabilities on /mcp with `experimental["claude/channel"]`
 * when coord pushes and the view sees it: Claude Code registers a channel
 * listener for a server that declares it (its channels contract).
 */
export function withChannel(gateway: CoordPushSources & Pick<GatewaySurface, 'config'>, view: View, capabilities: ServerCapabilities): ServerCapabilities {
  // Without MCP sessions there is no session to push into (stateless: a server per POST).
  if (gateway.config.gateway.mcp_sessions === 'stateless') return capabilities;
  if (view.single !== undefined || !sees(view, 'coord') || coordPush(gateway) === undefined) return capabilities;
  return { ...capabilities, experimental: { ...capabilities.experimental, [CHANNEL_CAPABILITY]: {} } };
}
