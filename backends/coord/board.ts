import type { Context } from 'hono';
import { recentEdit } from './claim-rules.js';
import { type ScoreExtras, scoreImpact } from './claim-score.js';
import { repoRules } from './claim-validate.js';
import { coChangeOf, prepareCoChange } from './co-change.js';
import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';
import type { CoordStore } from './store.js';
import type { Agent, Message, Task } from './types.js';
import { channelName } from './validate.js';
import type { ClaimConflict, Thread, WorkClaim } from './work-claim-types.js';

/*
 * GET /board: what the dashboard shows of coordination (issue #29 item 4),
 * in one read — every channel with its agents (states, current file and
 * thread), its threads that have not been closed with participants and the
 * conflict scores between their claims (every layer), its live claims, open
 * tasks and latest messages (thread notices left out) — plus
 * `last_event_id`, the event the page resumes GET /events after, so it
 * misses nothing between the two. Reading it counts as no agent's activity
 * but the viewer's.
 *
 * A request whose `coordViewer` is set (an agent token at the gateway) sees
 * what that agent may see elsewhere: only the threads it takes part in (as
 * mux_thread_list with its agent_id), and only the messages it sent or
 * received (as mux_history with its agent_id).
 */

/** The conflict between two claims of a thread, scored as an announce would score it now. */
export interface ThreadScore extends Omit<ClaimConflict, 'paths' | 'intent' | 'exclusive' | 'expires_at'> {
  /** The claim scored against the others (the first live claim of the thread: the announce that opened it). */
  by_claim_id: string;
  by_agent_id: string;
  /** True when that holder is stale: the conflict is shown but counts for nothing. */
  stale: boolean;
}

export interface BoardThread extends Thread {
  /** Highest first; empty when fewer than two of its claims are live. */
  scores: ThreadScore[];
}

export interface BoardChannel {
  name: string;
  description: string | null;
  /** Active and stale agents, with their states. */
  agents: Agent[];
  /** Threads not closed or cancelled (open, proposed, resolved), newest first. */
  threads: BoardThread[];
  claims: WorkClaim[];
  /** Pending and claimed tasks. */
  tasks: Task[];
  /** The latest messages, newest first. */
  messages: Message[];
}

export interface Board {
  /** The agent the board is read as (an agent token); null: everything. */
  viewer: string | null;
  /** The newest event when the board was read: resume GET /events after it. */
  last_event_id: number;
  channels: BoardChannel[];
}

/** Threads, tasks and messages shown per channel. */
const SHOWN = 50;
const MESSAGES = 10;
const ENDED = new Set(['closed', 'cancelled']);

/**
 * The conflicts between a thread's live claims, from the first one's point
 * of view: each pair scored as an announce scores it (claim-score.ts), with
 * the holder's recently edited file and the repository's co-change history,
 * but only against the thread's own claims, not every live claim of the
 * channel (a board of 50 threads would otherwise score every claim 50 times).
 */
async function threadScores(
  options: CoordOptions,
  thread: Thread,
  live: ReadonlyMap<string, WorkClaim>,
  agents: ReadonlyMap<string, Agent>,
): Promise<ThreadScore[]> {
  const claims = thread.claim_ids.map((id) => live.get(id)).filter((c): c is WorkClaim => c !== undefined);
  const [mine, ...others] = claims;
  if (mine === undefined || others.length === 0) return [];
  await prepareCoChange(options, mine.repo); // git runs outside the store, as for an announce
  const history = coChangeOf(options, mine.repo);
  const rules = repoRules(options, mine.repo);
  const at = Date.now();
  const scores: ThreadScore[] = [];
  for (const theirs of others) {
    if (theirs.agent_id === mine.agent_id) continue;
    const holder = agents.get(theirs.agent_id);
    const fileAt = holder?.state_since === null || holder?.state_since === undefined ? null : Date.parse(holder.state_since);
    const extras: ScoreExtras = {
      coChanged: history?.together,
      coChangeCommits: history?.commits,
      recentFile: recentEdit(holder?.current_file, fileAt, at, rules),
    };
    const impact = scoreImpact(mine, theirs, extras);
    if (impact !== null)
      scores.push({ claim_id: theirs.id, agent_id: theirs.agent_id, ...impact, by_claim_id: mine.id, by_agent_id: mine.agent_id, stale: theirs.stale });
  }
  return scores.sort((x, y) => y.score - x.score);
}

async function readChannel(
  store: CoordStore,
  options: CoordOptions,
  channel: { name: string; description: string | null },
  viewer: string | undefined,
): Promise<BoardChannel> {
  const name = channel.name;
  const [agents, threads, claims, pending, claimed, messages] = await Promise.all([
    store.discoverAgents({ channel: name, include_stale: true }),
    store.listThreads({ channel: name, agent_id: viewer, limit: SHOWN }),
    store.listClaims({ channel: name }),
    store.listTasks({ channel: name, status: 'pending', limit: SHOWN }),
    store.listTasks({ channel: name, status: 'claimed', limit: SHOWN }),
    // As the viewer when there is one (only what it sent or received); an agent not registered here has none.
    // Thread notices are left out: the thread itself is on the board.
    store.history({ channel: name, agent_id: viewer, limit: MESSAGES * 5 }).then(
      (h) => h.messages.filter((m) => m.kind !== 'thread').slice(0, MESSAGES),
      (error: unknown) => {
        if (error instanceof CoordError && viewer !== undefined) return [];
        throw error;
      },
    ),
  ]);
  const live = new Map(claims.map((c) => [c.id, c]));
  const holders = new Map(agents.map((a) => [a.id, a]));
  const shown = threads.filter((t) => !ENDED.has(t.status));
  const scored = await Promise.all(shown.map(async (t): Promise<BoardThread> => ({ ...t, scores: await threadScores(options, t, live, holders) })));
  return { name, description: channel.description, agents, threads: scored, claims, tasks: [...claimed, ...pending], messages };
}

/** The board of every channel, or of `channel` alone, as `viewer` may see it. */
export async function readBoard(store: CoordStore, options: CoordOptions, query: { channel?: string }, viewer: string | undefined): Promise<Board> {
  // The event id first: anything that changes while the rest is read comes again on the stream.
  const { last_id } = await store.events({ after: Number.MAX_SAFE_INTEGER - 1, limit: 1 });
  const wanted = query.channel === undefined ? undefined : channelName(query.channel);
  const all = await store.listChannels();
  const picked = wanted === undefined ? all : all.filter((c) => c.name === wanted);
  // A channel used only by name so far (or not at all) is still shown when asked for.
  const channels = wanted !== undefined && picked.length === 0 ? [{ name: wanted, description: null }] : picked;
  return {
    viewer: viewer ?? null,
    last_event_id: last_id,
    channels: await Promise.all(channels.map((c) => readChannel(store, options, c, viewer))),
  };
}

/** The query parameters GET /board takes. */
const BOARD_PARAMS = ['channel'];

/** GET /board (rest.ts). */
export async function boardRoute(c: Context, store: CoordStore, options: CoordOptions): Promise<Response> {
  const unknown = Object.keys(c.req.query()).filter((key) => !BOARD_PARAMS.includes(key));
  if (unknown.length > 0)
    throw new CoordError(
      'BAD_REQUEST',
      `Invalid request: unknown query parameter(s) ${unknown.map((k) => `'${k}'`).join(', ')} (GET /board takes ${BOARD_PARAMS.join(', ')}).`,
    );
  return c.json(await readBoard(store, options, { channel: c.req.query('channel') }, c.get('coordViewer')));
}
