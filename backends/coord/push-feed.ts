import type { CoordLogger, CoordStore } from './store.js';
import type { CoordEvent } from './types.js';

/*
 * [coord-push] Who is told what, as the store's events happen: the one
 * place that turns an event into notices for agents, so every surface that
 * pushes (the gateway's MCP sessions, its subscriptions/listen streams)
 * pushes the same thing to the same agents. One loop reads the store's
 * event stream (the one long polls, SSE and webhooks wake on; on PostgreSQL
 * it sees every gateway's writes) while anyone listens.
 *
 * Privacy: a notice goes only to an agent that may read what it carries (a
 * direct message or thread notice to its recipient, a broadcast to the
 * agents it reached, a conflict to the holders of the claims it meets, a
 * task to the agents that may claim it). Echo suppression: never to the
 * agent that caused it.
 */

/** What a notice is about. */
export type PushKind = 'message' | 'broadcast' | 'thread' | 'conflict' | 'task';

/** One thing to tell one agent. */
export interface PushNotice {
  /** The agent told. */
  agent: string;
  kind: PushKind;
  channel: string;
  /** The store event it comes from. */
  event_id: number;
  /** The agent that caused it (never `agent`). */
  from: string;
  /** A sentence or the message itself: what the agent may read of it. */
  content: string;
  /** Flat string attributes (Claude Code channel `meta`): identifiers as keys. */
  meta: Record<string, string>;
  /** The resources whose view changed for this agent: its inbox, and the thread's for a thread notice. */
  uris: string[];
  at: string;
}

/** The push side of the coordination store. */
export interface PushFeed {
  /** Hears every page of notices; the loop runs while someone listens. Returns the unsubscribe. */
  listen(listener: (notices: readonly PushNotice[]) => void): () => void;
  /** resources/read of coord://inbox/{agent}: unread count, the unread messages, the latest conflict and task notices. */
  inbox(agent: string): Promise<Record<string, unknown>>;
  /** resources/read of coord://threads/{id} as `agent` (FORBIDDEN for a non-participant, UNKNOWN_THREAD). */
  thread(threadId: string, agent: string): Promise<Record<string, unknown>>;
  /** Ends the loop. Idempotent. */
  close(): void;
}

export const inboxUri = (agent: string): string => `coord://inbox/${encodeURIComponent(agent)}`;
export const threadUri = (id: string): string => `coord://threads/${encodeURIComponent(id)}`;

/** Milliseconds one read of the event stream waits before asking again (it returns at once on an event). */
const WAIT_MS = 25_000;
/** Conflict and task notices kept per agent for the inbox view, and agents kept. */
const KEPT_NOTICES = 20;
const KEPT_AGENTS = 1_000;
/** Unread messages the inbox view lists at most. */
const INBOX_MESSAGES = 50;

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function createPushFeed(store: CoordStore, logger: CoordLogger | undefined): PushFeed {
  const listeners = new Set<(notices: readonly PushNotice[]) => void>();
  /** The latest conflict and task notices of each agent (they are not messages: the inbox view shows them from here). */
  const recent = new Map<string, PushNotice[]>();
  let running: AbortController | undefined;
  let closed = false;

  const keep = (notice: PushNotice): void => {
    if (notice.kind !== 'conflict' && notice.kind !== 'task') return;
    const list = recent.get(notice.agent) ?? [];
    recent.delete(notice.agent);
    list.unshift(notice);
    if (list.length > KEPT_NOTICES) list.length = KEPT_NOTICES;
    recent.set(notice.agent, list);
    // The agent told longest ago goes first.
    if (recent.size > KEPT_AGENTS) recent.delete(recent.keys().next().value as string);
  };

  async function loop(signal: AbortSignal): Promise<void> {
    let cursor = (await store.events({ after: Number.MAX_SAFE_INTEGER - 1, limit: 1 })).last_id;
    while (!signal.aborted) {
      try {
        const page = await store.events({ after: cursor, limit: 500, timeout_ms: WAIT_MS, signal });
        cursor = page.next_after;
        const notices: PushNotice[] = [];
        for (const event of page.events) notices.push(...(await noticesOf(store, event)));
        if (notices.length === 0) continue;
        for (const notice of notices) keep(notice);
        for (const listener of listeners) listener(notices);
      } catch (error) {
        if (signal.aborted) return;
        logger?.warn({ error: String(error) }, 'coord push: reading the event stream failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      }
    }
  }

  const start = (): void => {
    if (running !== undefined || closed) return;
    const controller = new AbortController();
    running = controller;
    void loop(controller.signal).catch((error: unknown) => {
      if (!controller.signal.aborted) logger?.warn({ error: String(error) }, 'coord push stopped');
      if (running === controller) running = undefined;
    });
  };

  return {
    listen(listener) {
      listeners.add(listener);
      start();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          running?.abort();
          running = undefined;
        }
      };
    },
    async inbox(agent) {
      const unread = await store.unreadCount(agent);
      // Its channel (reading one's inbox is a sign of life, as a poll is); an agent not registered reads the default channel.
      const channel = await store.heartbeat(agent).then(
        (a) => a.channel,
        () => undefined,
      );
      // Messages are acknowledged in id order: the unread ones are the newest received.
      const { messages } = await store.history({ agent_id: agent, channel, limit: INBOX_MESSAGES });
      const received = messages.filter((m) => m.from !== agent).slice(0, Math.min(unread, INBOX_MESSAGES));
      return { agent_id: agent, channel: channel ?? 'default', unread, messages: received.reverse(), notices: (recent.get(agent) ?? []).map(shown) };
    },
    async thread(threadId, agent) {
      return (await store.getThread({ thread_id: threadId, agent_id: agent })) as unknown as Record<string, unknown>;
    },
    close() {
      closed = true;
      listeners.clear();
      running?.abort();
      running = undefined;
    },
  };
}

function shown(notice: PushNotice): Record<string, unknown> {
  return { kind: notice.kind, from: notice.from, content: notice.content, meta: notice.meta, at: notice.at, event_id: notice.event_id };
}

/** The notices one event makes (none for most events). */
export async function noticesOf(store: CoordStore, event: CoordEvent): Promise<PushNotice[]> {
  const channel = event.channel ?? 'default';
  const data = event.data;
  const base = { channel, event_id: event.id, at: event.at };
  const meta = (extra: Record<string, unknown>): Record<string, string> => {
    const out: Record<string, string> = { channel, event_id: String(event.id) };
    for (const [key, value] of Object.entries(extra)) if (value !== undefined && value !== null) out[key] = String(value);
    return out;
  };
  switch (event.type) {
    case 'message': {
      const from = str(data.from);
      const to = str(data.to);
      if (from === undefined || to === undefined || to === from) return [];
      const thread = str(data.thread_id);
      const kind: PushKind = thread === undefined ? 'message' : 'thread';
      const uris = thread === undefined ? [inboxUri(to)] : [inboxUri(to), threadUri(thread)];
      const content = String(data.content ?? '');
      return [{ ...base, agent: to, kind, from, content, uris, meta: meta({ kind, from, message_id: data.message_id, thread_id: thread }) }];
    }
    case 'broadcast': {
      const from = str(data.from);
      if (from === undefined) return [];
      const group = str(data.group);
      // The agents of the channel (or group) now: those the broadcast reached, as the store chose them at send.
      const agents = await store.discoverAgents({ channel, group, include_stale: true });
      const content = String(data.content ?? '');
      const fields = meta({ kind: 'broadcast', from, message_id: data.message_id, group, priority: data.priority });
      return agents
        .filter((a) => a.id !== from)
        .map((a) => ({ ...base, agent: a.id, kind: 'broadcast' as const, from, content, uris: [inboxUri(a.id)], meta: fields }));
    }
    case 'claim_announced': {
      const from = str(data.agent_id);
      const conflicts = Array.isArray(data.conflicts) ? (data.conflicts as Array<Record<string, unknown>>) : [];
      if (from === undefined || conflicts.length === 0) return [];
      const paths = Array.isArray(data.paths) ? data.paths.map(String).join(', ') : '';
      const told = new Set<string>();
      const notices: PushNotice[] = [];
      for (const conflict of conflicts) {
        const holder = str(conflict.agent_id);
        if (holder === undefined || holder === from || told.has(holder)) continue;
        told.add(holder);
        const content = `${from} announced ${paths} (${String(data.verdict)}, score ${String(data.score)}), which meets your claim ${String(conflict.claim_id)} (score ${String(conflict.score)}); mux_claim_check or mux_status for the details.`;
        const fields = meta({
          kind: 'conflict',
          from,
          claim_id: data.claim_id,
          your_claim_id: conflict.claim_id,
          score: conflict.score,
          verdict: data.verdict,
        });
        notices.push({ ...base, agent: holder, kind: 'conflict', from, content, uris: [inboxUri(holder)], meta: fields });
      }
      return notices;
    }
    case 'task_posted': {
      const from = str(data.posted_by) ?? '';
      const capability = str(data.required_capability);
      // The agents that may claim it: those of the channel with the capability it needs (any, when it names none).
      const agents = await store.discoverAgents({ channel, capability, include_stale: true });
      const content = `${from === '' ? 'someone' : from} posted task ${String(data.task_id)} (priority ${String(data.priority)}): ${String(data.description ?? '')}; mux_task_claim to take it.`;
      const fields = meta({
        kind: 'task',
        from: from === '' ? undefined : from,
        task_id: data.task_id,
        priority: data.priority,
        required_capability: capability,
      });
      return agents
        .filter((a) => a.id !== from)
        .map((a) => ({ ...base, agent: a.id, kind: 'task' as const, from, content, uris: [inboxUri(a.id)], meta: fields }));
    }
    default:
      return [];
  }
}
