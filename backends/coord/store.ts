import type {
  Agent,
  AnnounceClaimInput,
  AnnounceClaimResult,
  BroadcastInput,
  BroadcastResult,
  Channel,
  CheckClaimsInput,
  ClaimCheck,
  ClaimListQuery,
  ClaimStatus,
  ClaimStatusQuery,
  ClaimTaskInput,
  ClaimTaskResult,
  CompleteTaskInput,
  CoordStats,
  CreateChannelInput,
  CreateChannelResult,
  DeregisterAgentResult,
  DiscoverQuery,
  EventsPage,
  EventsQuery,
  GetThreadInput,
  HistoryQuery,
  HistoryResult,
  Lease,
  OpenThreadInput,
  PollInput,
  PollResult,
  PostTaskInput,
  PruneReport,
  RegisterAgentInput,
  RegisterAgentResult,
  ReleaseClaimInput,
  RenewClaimInput,
  RenewTaskInput,
  SendInput,
  SendResult,
  SetAgentStateInput,
  SetStateInput,
  StateEntry,
  StoreHealth,
  Task,
  TaskListQuery,
  Thread,
  ThreadActionInput,
  ThreadListQuery,
  ThreadUpdates,
  ThreadUpdatesInput,
  ThreadView,
  WatchStateInput,
  WatchStateResult,
  WorkClaim,
} from './types.js';

export type * from './types.js';

/** The logger a store or surface writes to: pino's call shape, so a pino child logger fits. */
export interface CoordLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Injected collaborators of a store: a logger and, for tests, a clock. */
export interface StoreRuntime {
  logger?: CoordLogger;
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
}

/**
 * Everything the coordination tools need, whatever holds the data. The whole
 * semantics lives behind this interface (limits from CoordOptions, channel
 * scoping, cursors, leases, CAS, long-poll wake-ups, doorbells), so MCP and
 * REST are thin translations and a PostgreSQL store can run the same contract
 * suite (test/coord/contract.ts).
 *
 * Rules every implementation keeps:
 * - A write is committed (durable against a process crash) before its
 *   promise resolves.
 * - Refusals are CoordError with a stable code; anything else is a bug.
 * - Message ids visible to one recipient grow in commit order, so a cursor
 *   never skips a message that commits later.
 * - Event ids are global and grow in commit order.
 * - Every call that names its acting agent (agent_id, from, posted_by,
 *   updated_by, created_by) counts as that agent's activity: it refreshes
 *   last_heartbeat, refused or not (store-methods.ts, ACTIVITY); a caller
 *   that knows the agent otherwise counts its calls with touchAgent.
 * - A live claim whose holder has been stale for stale_threshold neither
 *   blocks nor scores; lists show it with stale: true.
 */
export interface CoordStore {
  /** Short name of the implementation, e.g. "sqlite". */
  readonly kind: string;

  /** Registers or re-registers (replacing role, capabilities, group, channel, webhook) an agent. */
  registerAgent(input: RegisterAgentInput): Promise<RegisterAgentResult>;
  /**
   * Removes an agent from the directory; its pending messages are kept. In the
   * same transaction its live work claims are released and its claimed tasks
   * go back to pending (with their events). Idempotent.
   */
  deregisterAgent(agentId: string): Promise<DeregisterAgentResult>;
  /** Marks the agent active now. UNKNOWN_AGENT when not registered. */
  heartbeat(agentId: string): Promise<Agent>;
  /**
   * Counts a call by the agent as activity (last_heartbeat = now), for a
   * caller that knows who acts without the call naming it (the gateway, for
   * an agent token's calls); nothing for an id that is not registered.
   */
  touchAgent(agentId: string): Promise<void>;
  /** Agents of a channel (default "default") matching the filters; stale ones only when asked. */
  discoverAgents(query: DiscoverQuery): Promise<Agent[]>;
  /** Sets what the agent says it is doing (agent-state.ts), with an agent_state event; counts as activity. UNKNOWN_AGENT when not registered. */
  setAgentState(input: SetAgentStateInput): Promise<Agent>;

  /** Sends a direct message to an agent registered in the channel. */
  sendMessage(input: SendInput): Promise<SendResult>;
  /** Sends a message to every agent of the channel (or of one group in it) except the sender. */
  broadcast(input: BroadcastInput): Promise<BroadcastResult>;
  /** Reads an inbox with the cursor rules of DESIGN.md; waits up to timeout_ms for a first message. */
  poll(input: PollInput): Promise<PollResult>;
  /** DM, group or channel history, newest first. */
  history(query: HistoryQuery): Promise<HistoryResult>;

  postTask(input: PostTaskInput): Promise<Task>;
  /** Atomically claims the highest-priority, oldest pending task the agent is capable of. */
  claimTask(input: ClaimTaskInput): Promise<ClaimTaskResult>;
  /** Extends a claimed task's lease by task_claim_timeout from now; only its claimer, with the current lease epoch. */
  renewTask(input: RenewTaskInput): Promise<Lease>;
  /** Completes or fails a claimed task; only its claimer, with the current lease epoch. */
  completeTask(input: CompleteTaskInput): Promise<Task>;
  listTasks(query: TaskListQuery): Promise<Task[]>;
  /** UNKNOWN_TASK when there is no such task. */
  getTask(taskId: string): Promise<Task>;

  /** The entry, or version 0 and value null when the key was never set. */
  getState(key: string, channel?: string): Promise<StateEntry>;
  /** Sets a value; with expected_version, CONFLICT (carrying the current entry) on mismatch. */
  setState(input: SetStateInput): Promise<StateEntry>;
  /** Waits until the key's version passes after_version or the timeout ends. */
  watchState(input: WatchStateInput): Promise<WatchStateResult>;

  /** Creates a channel; idempotent (created: false when it existed). */
  createChannel(input: CreateChannelInput): Promise<CreateChannelResult>;
  listChannels(): Promise<Channel[]>;

  stats(channel?: string): Promise<CoordStats>;

  /*
   * Work claims and consultation threads (work-claim-types.ts). Claims are
   * scoped by channel and repo; conflicts are scored against live claims of
   * other agents only; a conflict of 90 or more opens a thread in the same
   * transaction as the claim.
   */

  /** Records a claim and lists its conflicts; CONFLICT (naming the holders) when exclusivity is asked or held. */
  announceClaim(input: AnnounceClaimInput): Promise<AnnounceClaimResult>;
  /** Read-only: the conflicts these paths would have, without claiming. */
  checkClaims(input: CheckClaimsInput): Promise<ClaimCheck>;
  /** Extends a live claim; only its holder. */
  renewClaim(input: RenewClaimInput): Promise<WorkClaim>;
  /** Ends a claim; its holder, or a claim admin (forced). Idempotent once ended. */
  releaseClaim(input: ReleaseClaimInput): Promise<WorkClaim>;
  /** Live claims of a channel, oldest first. */
  listClaims(query: ClaimListQuery): Promise<WorkClaim[]>;
  /** Live claims, hot paths and threads that have not ended. */
  claimStatus(query: ClaimStatusQuery): Promise<ClaimStatus>;
  /** Opens a thread on request between the agent and the participants. */
  openThread(input: OpenThreadInput): Promise<Thread>;
  /** Post, approve, contest, close or cancel; participants only. */
  actOnThread(input: ThreadActionInput): Promise<ThreadView>;
  /** The thread and its messages; participants (and claim admins) only. */
  getThread(input: GetThreadInput): Promise<ThreadView>;
  listThreads(query: ThreadListQuery): Promise<Thread[]>;
  /** Messages in the agent's threads after a message id. */
  threadUpdates(input: ThreadUpdatesInput): Promise<ThreadUpdates>;
  /** Messages waiting in the agent's inboxes past its cursors (every channel), counted up to UNREAD_COUNT_CAP. */
  unreadCount(agentId: string): Promise<number>;
  /** Stored events after an id, waiting up to timeout_ms for the first one. */
  events(query: EventsQuery): Promise<EventsPage>;
  health(): Promise<StoreHealth>;
  /**
   * Applies retention now, as the background sweep does: messages and
   * finished tasks past their age or per-channel count ([coordination]
   * message_retention*, task_retention*) are deleted in batches of
   * retention_batch rows, each its own transaction. Read state is not
   * consulted. A pass already running is joined.
   */
  prune(): Promise<PruneReport>;

  /** Wakes every waiter, stops timers and doorbells, closes the database. Idempotent. */
  close(): Promise<void>;
}
