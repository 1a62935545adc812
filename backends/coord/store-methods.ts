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
  agents: { register: Op<'registerAgent'>; deregister: Op<'deregisterAgent'>; heartbeat: Op<'heartbeat'>; discover: Op<'discoverAgents'> };
  messages: { send: Op<'sendMessage'>; broadcast: Op<'broadcast'>; poll: Op<'poll'>; history: Op<'history'> };
  tasks: { post: Op<'postTask'>; claim: Op<'claimTask'>; complete: Op<'completeTask'>; list: Op<'listTasks'>; get: Op<'getTask'> };
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

/** The CoordStore methods that only route to an area, each through `run`. */
export function areaMethods(a: CoordAreas, run: RunOp): Omit<CoordStore, EngineMethods> {
  return {
    registerAgent: (input) => run(() => a.agents.register(input)),
    deregisterAgent: (agentId) => run(() => a.agents.deregister(agentId)),
    heartbeat: (agentId) => run(() => a.agents.heartbeat(agentId)),
    discoverAgents: (query) => run(() => a.agents.discover(query)),
    sendMessage: (input) => run(() => a.messages.send(input)),
    broadcast: (input) => run(() => a.messages.broadcast(input)),
    poll: (input) => run(() => a.messages.poll(input)),
    history: (query) => run(() => a.messages.history(query)),
    postTask: (input) => run(() => a.tasks.post(input)),
    claimTask: (input) => run(() => a.tasks.claim(input)),
    completeTask: (input) => run(() => a.tasks.complete(input)),
    listTasks: (query) => run(() => a.tasks.list(query)),
    getTask: (taskId) => run(() => a.tasks.get(taskId)),
    getState: (key, channel) => run(() => a.state.get(key, channel)),
    setState: (input) => run(() => a.state.set(input)),
    watchState: (input) => run(() => a.state.watch(input)),
    createChannel: (input) => run(() => a.channels.create(input)),
    listChannels: () => run(() => a.channels.list()),
    announceClaim: (input) => run(() => a.claims.announce(input)),
    checkClaims: (input) => run(() => a.claims.check(input)),
    renewClaim: (input) => run(() => a.claims.renew(input)),
    releaseClaim: (input) => run(() => a.claims.release(input)),
    listClaims: (query) => run(() => a.claims.list(query)),
    claimStatus: (query) => run(() => a.claims.status(query)),
    openThread: (input) => run(() => a.threads.open(input)),
    actOnThread: (input) => run(() => a.threads.act(input)),
    getThread: (input) => run(() => a.threads.get(input)),
    listThreads: (query) => run(() => a.threads.list(query)),
    threadUpdates: (input) => run(() => a.threads.updates(input)),
  };
}
