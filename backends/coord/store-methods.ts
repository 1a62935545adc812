import type { CoordStore } from './store.js';

/** A store method as an area implements it: the same arguments, the answer sync or async. */
type Op<K extends keyof CoordStore> = CoordStore[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R | Promise<R> : never;

/**
 * The areas of a store (one class per area, per engine: sqlite/*.ts,
 * pg/*.ts), by what each must answer. Both engines build their CoordStore
 * from these with `areaMethods`, so the mapping from the interface to the
 * areas is written once.
 */
export interface CoordAreas {
  agents: {
    register: Op<'registerAgent'>;
    deregister: Op<'deregisterAgent'>;
    heartbeat: Op<'heartbeat'>;
    discover: Op<'discoverAgents'>;
    setState: Op<'setAgentState'>;
    /** Counts a call by the agent as activity (last_heartbeat = now); nothing for an id that is not registered. */
    seen: (agentId: string) => void | Promise<void>;
  };
  messages: { send: Op<'sendMessage'>; broadcast: Op<'broadcast'>; poll: Op<'poll'>; history: Op<'history'> };
  tasks: {
    post: Op<'postTask'>;
    claim: Op<'claimTask'>;
    renew: Op<'renewTask'>;
    complete: Op<'completeTask'>;
    list: Op<'listTasks'>;
    get: Op<'getTask'>;
  };
  state: { get: Op<'getState'>; set: Op<'setState'>; watch: Op<'watchState'> };
  channels: { create: Op<'createChannel'>; list: Op<'listChannels'> };
  claims: {
    announce: Op<'announceClaim'>;
    check: Op<'checkClaims'>;
    renew: Op<'renewClaim'>;
    release: Op<'releaseClaim'>;
    list: Op<'listClaims'>;
    status: Op<'claimStatus'>;
  };
  threads: { open: Op<'openThread'>; act: Op<'actOnThread'>; get: Op<'getThread'>; list: Op<'listThreads'>; updates: Op<'threadUpdates'> };
}

/** How a store runs each operation (a closed store answers UNAVAILABLE instead of a driver error). */
export type RunOp = <T>(fn: () => T | Promise<T>) => Promise<T>;

/** What an engine adds itself: its kind, stats, events, unread counts, health, retention and close. */
type EngineMethods = 'kind' | 'stats' | 'events' | 'unreadCount' | 'health' | 'prune' | 'close';

/**
 * The CoordStore methods that only route to an area, each through `run`.
 *
 * ACTIVITY, the one rule for last-seen times: a call that names its acting
 * agent (agent_id, from, posted_by, updated_by, created_by: the fields the
 * gateway binds to an agent token) counts as that agent's activity before it
 * runs, whether it then succeeds or is refused, so an agent busy claiming or
 * in threads never shows stale. Filters that name another agent (claim list's
 * agent_id, task list's claimed_by) are not actors. Sending, polling,
 * claiming, renewing and completing a task and heartbeats count inside their
 * own transaction (they also require the agent to be registered), so they are
 * routed without `active`. A call that names no agent counts only where
 * its caller knows who acts: the gateway calls touchAgent for an agent
 * token's calls (src/builtins/coord.ts).
 */
export function areaMethods(a: CoordAreas, run: RunOp): Omit<CoordStore, EngineMethods> {
  const active = <T>(agent: string | null | undefined, fn: () => T | Promise<T>): Promise<T> =>
    run(() => {
      const seen = typeof agent === 'string' && agent !== '' ? a.agents.seen(agent) : undefined;
      return seen instanceof Promise ? seen.then(fn) : fn();
    });
  return {
    registerAgent: (input) => run(() => a.agents.register(input)),
    deregisterAgent: (agentId) => run(() => a.agents.deregister(agentId)),
    heartbeat: (agentId) => run(() => a.agents.heartbeat(agentId)),
    touchAgent: (agentId) => run(() => a.agents.seen(agentId)),
    discoverAgents: (query) => run(() => a.agents.discover(query)),
    setAgentState: (input) => run(() => a.agents.setState(input)),
    sendMessage: (input) => run(() => a.messages.send(input)),
    broadcast: (input) => run(() => a.messages.broadcast(input)),
    poll: (input) => run(() => a.messages.poll(input)),
    history: (query) => active(query.agent_id, () => a.messages.history(query)),
    postTask: (input) => active(input.posted_by, () => a.tasks.post(input)),
    claimTask: (input) => run(() => a.tasks.claim(input)),
    renewTask: (input) => run(() => a.tasks.renew(input)),
    completeTask: (input) => run(() => a.tasks.complete(input)),
    listTasks: (query) => run(() => a.tasks.list(query)),
    getTask: (taskId) => run(() => a.tasks.get(taskId)),
    getState: (key, channel) => run(() => a.state.get(key, channel)),
    setState: (input) => active(input.updated_by, () => a.state.set(input)),
    watchState: (input) => run(() => a.state.watch(input)),
    createChannel: (input) => active(input.created_by, () => a.channels.create(input)),
    listChannels: () => run(() => a.channels.list()),
    announceClaim: (input) => active(input.agent_id, () => a.claims.announce(input)),
    checkClaims: (input) => active(input.agent_id, () => a.claims.check(input)),
    renewClaim: (input) => active(input.agent_id, () => a.claims.renew(input)),
    releaseClaim: (input) => active(input.agent_id, () => a.claims.release(input)),
    listClaims: (query) => run(() => a.claims.list(query)),
    claimStatus: (query) => active(query.agent_id, () => a.claims.status(query)),
    openThread: (input) => active(input.agent_id, () => a.threads.open(input)),
    actOnThread: (input) => active(input.agent_id, () => a.threads.act(input)),
    getThread: (input) => active(input.agent_id, () => a.threads.get(input)),
    listThreads: (query) => active(query.agent_id, () => a.threads.list(query)),
    threadUpdates: (input) => active(input.agent_id, () => a.threads.updates(input)),
  };
}
