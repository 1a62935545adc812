import type { Server } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import type { AgentNotice, AgentPush } from '../../src/builtins/builtin-backend.js';
import { type CoordPushSources, coordPush, SESSION_QUEUE } from '../../src/mcp/coord-push.js';
import type { View } from '../../src/mcp/view.js';

/*
 * [coord-push] The hub's per-session queues (src/mcp/coord-push.ts): a
 * session that does not take its notifications keeps at most SESSION_QUEUE
 * waiting (the oldest go) and never holds up another session. A fake feed
 * and fake session servers, no clock: a notification is "taken" when the
 * test resolves it.
 */

function feed(): { push: AgentPush; emit: (notices: AgentNotice[]) => void } {
  let listener: ((notices: readonly AgentNotice[]) => void) | undefined;
  const push: AgentPush = {
    scheme: 'coord://',
    listen: (l) => {
      listener = l;
      return () => (listener = undefined);
    },
    inbox: async () => ({}),
    thread: async () => ({}),
  };
  return { push, emit: (notices) => listener?.(notices) };
}

const notice = (agent: string, i: number): AgentNotice => ({
  agent,
  kind: 'message',
  channel: 'default',
  event_id: i,
  from: 'sender',
  content: `m${i}`,
  meta: { from: 'sender' },
  uris: [`coord://inbox/${agent}`],
  at: '',
});

/** A session server of a client that declared claude/channel; `sent` holds each notification with the function that lets it complete. */
function session(id: string): { server: Server; view: View; sent: { content: unknown; done: () => void }[]; auto: boolean } {
  const state = {
    sent: [] as { content: unknown; done: () => void }[],
    auto: false,
    view: { expose: 'all', servers: undefined, single: undefined, caller: undefined, session: { id, ended: false } } as View,
    server: undefined as unknown as Server,
  };
  state.server = {
    getClientCapabilities: () => ({ experimental: { 'claude/channel': {} } }),
    getClientVersion: () => ({ name: 'fake', version: '1' }),
    notification: (n: { params: { content: unknown } }) =>
      new Promise<void>((resolve) => {
        state.sent.push({ content: n.params.content, done: resolve });
        if (state.auto) resolve();
      }),
  } as unknown as Server;
  return state;
}

describe('coord push: per-session queues', () => {
  it('a session that takes nothing keeps the newest SESSION_QUEUE notices and does not hold up another session', async () => {
    const { push, emit } = feed();
    const gateway = {
      builtins: [{ name: 'coord', routes: undefined, streams: [], probes: [], identity: undefined, activity: undefined, mount: { push } }],
      logger: { warn: () => undefined, debug: () => undefined },
      security: { tokens: { byName: () => undefined } },
      sessions: { onEnded: () => undefined },
    } as unknown as CoordPushSources;
    const hub = coordPush(gateway);
    if (hub === undefined) throw new Error('no hub');
    const [slow, fast] = [session('slow'), session('fast')];
    fast.auto = true;
    for (const [name, s] of [
      ['slow', slow],
      ['fast', fast],
    ] as const) {
      hub.noteRegister(s.view, name);
      hub.channel(s.server, s.view);
    }
    const total = SESSION_QUEUE + 50;
    emit(Array.from({ length: total }, (_, i) => notice('slow', i)));
    emit([notice('fast', total)]);
    // The fast session got its notice while the slow one still holds its first.
    await Promise.resolve();
    expect(fast.sent.map((s) => s.content)).toEqual([`m${total}`]);
    expect(slow.sent.map((s) => s.content)).toEqual(['m0']);
    // Let the slow one take everything: m0 (in flight), then the newest SESSION_QUEUE; the ones between were dropped.
    for (let taken = 0; taken < slow.sent.length; taken += 1) {
      slow.sent[taken]?.done();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const contents = slow.sent.map((s) => s.content);
    expect(contents).toHaveLength(1 + SESSION_QUEUE);
    expect(contents[1]).toBe(`m${total - SESSION_QUEUE}`);
    expect(contents.at(-1)).toBe(`m${total - 1}`);
  });
});
