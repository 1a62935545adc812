/*
 * The data of work claims and consultation threads (the announce / conflict
 * model of mcp-coordinator-readme.txt). Field names are the wire names;
 * times are ISO 8601. Every claim and thread carries a scope: a channel and
 * a repository id that the agent gives, so equal relative paths in two
 * repositories never meet.
 */

import type { ThreadPostKind, ThreadStatus } from './schemas/thread.js';

export * from './schemas/claim.js';
export * from './schemas/thread.js';

/** The repository id used when a call names none. */
export const DEFAULT_REPO = 'default';

/** Whether a claim still holds: `active` until its TTL passes or its holder (or an admin) releases it. */
export type WorkClaimStatus = 'active' | 'released' | 'expired';

export interface WorkClaim {
  id: string;
  agent_id: string;
  channel: string;
  repo: string;
  /** Normalized relative paths or globs the agent will modify. */
  paths: string[];
  /** Paths the agent reads and relies on. */
  depends_on: string[];
  /** Module names the work belongs to (e.g. "auth", "src/auth"). */
  modules: string[];
  /** Symbols the work touches in its files (empty: the whole files). */
  target_symbols: string[];
  intent: string;
  exclusive: boolean;
  status: WorkClaimStatus;
  created_at: string;
  expires_at: string;
  released_at: string | null;
  /** Who released it: the holder, or an admin for a forced release. */
  released_by: string | null;
  /**
   * True while the claim is active but its holder has made no call for
   * stale_threshold: it neither blocks nor scores until the holder is
   * active again (or it expires).
   */
  stale: boolean;
}

/** Which layer of impact scoring matched (claim-score.ts): same file or recently edited 100, dependency (or recently edited) 80, co-change 40–60, module 30. */
export type ConflictLayer = 'same_file' | 'recent_edit' | 'dependency' | 'recent_dependency' | 'co_change' | 'module';

/** One matching layer of a conflict's score. */
export interface ScoreLayer {
  layer: ConflictLayer;
  score: number;
  /** A sentence naming the overlapping paths, modules, symbols or commits. */
  reason: string;
}

/** clear (< 30): proceed; caution (30–89): look at the others' intent; conflict (≥ 90): consult first. */
export type ClaimVerdict = 'clear' | 'caution' | 'conflict';

/** One live claim of another agent that overlaps the paths asked about. */
export interface ClaimConflict {
  claim_id: string;
  agent_id: string;
  /** Their claimed paths. */
  paths: string[];
  intent: string;
  exclusive: boolean;
  expires_at: string;
  score: number;
  layer: ConflictLayer;
  /** A sentence naming the overlapping paths or modules. */
  reason: string;
  /** Every layer that matched, highest first (the first gives score, layer and reason). */
  breakdown: ScoreLayer[];
}

export interface ClaimCheck {
  verdict: ClaimVerdict;
  /** The highest score of the conflicts, 0 when there are none. */
  score: number;
  /** Highest score first. */
  conflicts: ClaimConflict[];
  /** Overlapping claims whose holders are stale: shown, but they neither score nor block. Highest score first. */
  stale_conflicts: ClaimConflict[];
}

export interface AnnounceClaimResult extends ClaimCheck {
  claim: WorkClaim;
  /** The consultation thread opened for conflicts ≥ 90 (on a repeat: the live thread about the claim), or null. */
  thread: Thread | null;
  /**
   * True when the announce repeated a live claim of the same agent (same channel,
   * repo, paths, depends_on, modules and exclusive): that claim is answered, its
   * intent replaced and its expiry extended, and no new thread opens.
   */
  repeated: boolean;
}

/** A path claimed by more than one agent. */
export interface HotPath {
  repo: string;
  path: string;
  agents: string[];
}

export interface ClaimStatus {
  channel: string;
  repo: string | null;
  claims: WorkClaim[];
  hot_paths: HotPath[];
  threads: Thread[];
}

export type ThreadMessageKind = ThreadPostKind | 'opened' | 'approve' | 'contest' | 'close' | 'cancel' | 'auto_resolved';

export interface ThreadMessage {
  id: number;
  thread_id: string;
  /** The author; null for the server's own notes (auto-resolve). */
  agent_id: string | null;
  kind: ThreadMessageKind;
  content: string;
  at: string;
}

export interface Thread {
  id: string;
  channel: string;
  repo: string;
  subject: string;
  opened_by: string;
  participants: string[];
  /** Claims whose conflict opened it. */
  claim_ids: string[];
  paths: string[];
  status: ThreadStatus;
  /** The resolution on the table while status is "proposed". */
  proposal: { text: string; by: string; message_id: number } | null;
  /** Participants who approved the current proposal (the proposer included). */
  approvals: string[];
  resolution: { text: string | null; how: 'consensus' | 'timeout'; at: string } | null;
  created_at: string;
  updated_at: string;
  /** When an open or proposed thread resolves by itself (thread_timeout after its last activity). */
  auto_resolve_at: string | null;
}

export type ThreadAction = 'post' | 'approve' | 'contest' | 'close' | 'cancel';

export interface ThreadActionInput {
  thread_id: string;
  agent_id: string;
  action: ThreadAction;
  /** For post: the kind; "proposal" puts a resolution on the table. */
  kind?: ThreadPostKind;
  /** The text: required for post and contest, optional otherwise. */
  content?: string;
}

export interface ThreadView {
  thread: Thread;
  /** Oldest first. */
  messages: ThreadMessage[];
}

export interface ThreadUpdates {
  agent_id: string;
  /** New messages in the agent's threads, oldest first. */
  messages: ThreadMessage[];
  /** The current state of every thread those messages belong to. */
  threads: Thread[];
  next_after: number;
  has_more: boolean;
}
