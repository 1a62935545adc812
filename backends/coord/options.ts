import { z } from 'zod';
import { toolEntryProblem } from './tool-groups.js';

/*
 * The [coordination] keys of stonegate.toml (stonemux-reference.txt
 * [coordination] and [events], flattened into one section). Defaults live
 * here and nowhere else. Durations are seconds, as in the reference; they may
 * be fractional, which tests use for short leases and stale thresholds.
 */

const seconds = z.number().positive();
const bytes = z.number().int().min(1);

/** One [coordination.repositories.<id>] entry. */
const RepositorySchema = z
  .strictObject({
    root: z
      .string()
      .refine((root) => /^([/\\~]|[A-Za-z]:)/.test(root), 'root must be an absolute path (/…, ~/… or C:\\…)')
      .optional(),
    case_insensitive: z.boolean().default(false),
    /** Score claims by the git history of `root` too: files changed in the same commits (co-change.ts). */
    co_change: z.boolean().default(false),
    /** The newest commits read for co-change. */
    co_change_commits: z.number().int().min(1).max(100_000).default(500),
    /** Only commits of the last this many days count for co-change. */
    co_change_days: z.number().positive().default(90),
  })
  .refine((repo) => !repo.co_change || repo.root !== undefined, {
    message: 'co_change needs root (the git working tree whose history is read)',
    path: ['co_change'],
  });

export const CoordOptionsSchema = z
  .strictObject({
    /** Maximum message content size in UTF-8 bytes (send and broadcast). */
    max_message_size: bytes.default(65_536),
    /** Maximum size in bytes of a state value, task description, result or metadata (serialized). */
    max_value_size: bytes.default(1_048_576),
    /** Upper bound for the `timeout` of poll and state watch, in seconds. */
    poll_timeout_max: seconds.default(120),
    /** Seconds a claimed task may stay uncompleted (and unrenewed) before it returns to pending. */
    task_claim_timeout: seconds.default(300),
    /** Seconds between heartbeats an agent is asked to keep (reported to agents, not enforced). */
    heartbeat_interval: seconds.default(60),
    /** Seconds without a heartbeat (or any other call naming the agent) before it is reported stale and its claims stop counting. */
    stale_threshold: seconds.default(300),
    /** Seconds between SSE keepalive comments on /events. */
    sse_keepalive: seconds.default(15),
    /** Events kept for SSE resume; older ones are trimmed. */
    max_event_buffer: z.number().int().min(1).default(1000),
    /** Seconds before a doorbell webhook POST is abandoned. */
    webhook_timeout: seconds.default(5),
    /** Retries after a failed doorbell POST (0: try once). */
    webhook_retries: z.number().int().min(0).max(10).default(3),
    /** First retry delay in seconds; doubles on each retry, with jitter. */
    webhook_backoff: seconds.default(1),
    /** Allow webhook URLs that resolve to loopback, private or link-local addresses. */
    allow_private_webhooks: z.boolean().default(false),
    /** Seconds a work claim holds when the announce gives no ttl_seconds. */
    claim_ttl_default: seconds.default(900),
    /** Longest TTL a work claim may ask for (announce or renew), in seconds; longer asks are cut to it. */
    claim_ttl_max: seconds.default(14_400),
    /** Seconds without activity after which an open or proposed consultation thread resolves by itself. */
    thread_timeout: seconds.default(600),
    /** Agent ids that may release other agents' work claims (forced release). */
    claim_admins: z.array(z.string().min(1)).default([]),

    // [coord-2] item 14: the tool budget.
    /** Coordination tools MCP lists and answers: groups (agents, messaging, tasks, state, channels, claims, threads) and/or tool names; "all" for every tool. REST routes stay complete. */
    tools: z
      .array(z.string())
      .min(1, 'name at least one tool group or tool ("all" for every tool); to remove coordination altogether set [coordination] enabled = false')
      .superRefine((entries, ctx) => {
        for (const [index, entry] of entries.entries()) {
          const problem = toolEntryProblem(entry);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [index], message: problem });
        }
      })
      .default(['all']),
    /**
     * Repositories by id (the `repo` of claims and threads): `root`, the absolute path
     * absolute claim paths inside it are made relative to; `case_insensitive`, compare
     * paths case-folded (macOS, Windows). An id not declared: case-sensitive, no root.
     */
    repositories: z.record(z.string().min(1), RepositorySchema).default({}),
    /**
     * Longest wait of mux_poll and mux_state_watch over MCP, in seconds; a
     * longer `timeout` is cut to it (and to poll_timeout_max). Below the 60 s
     * default request timeout of the official MCP SDK clients, so a call with
     * the seed's `timeout: 60` answers instead of timing out. REST is capped by
     * poll_timeout_max only.
     */
    mcp_poll_timeout_max: seconds.default(50),
    /** Seconds between the progress notifications of an MCP call that carries a progressToken, while it runs (long polls). */
    progress_interval: seconds.default(10),
    // Retention (#21 item 11): applied by a background sweep in batches, read or not; 0 turns one rule off.
    /** Seconds a message is kept after it was sent, whether its recipients read it or not (30 days); 0 keeps messages however old. */
    message_retention: z.number().min(0).default(2_592_000),
    /** Messages kept per channel, the newest, whether read or not; 0: no count limit. */
    message_retention_count: z.number().int().min(0).default(100_000),
    /** Seconds a finished (complete or failed) task is kept after it finished (30 days); 0 keeps finished tasks however old. */
    task_retention: z.number().min(0).default(2_592_000),
    /** Finished tasks kept per channel, the most recently posted; 0: no count limit. Pending and claimed tasks are never pruned. */
    task_retention_count: z.number().int().min(0).default(10_000),
    /** Rows one retention batch deletes; each batch is its own short transaction, so calls run between batches. */
    retention_batch: z.number().int().min(1).max(100_000).default(500),
    // Limits of one request ([coord-2] #21 item 10); over one, PAYLOAD_TOO_LARGE names the limit and its key (limits.ts).
    /** Most characters of a work claim's intent or a consultation thread's subject (thread messages are held to max_message_size). */
    max_intent_length: z.number().int().min(1).default(8_000),
    /** Most entries of one list field of a work claim or thread: paths, depends_on, modules, participants, claim_ids. */
    max_list_entries: z.number().int().min(1).default(200),
    /** Most characters of one path (or glob) of a work claim or thread. */
    max_path_length: z.number().int().min(1).default(512),
    /** Most capabilities one agent may register. */
    max_capabilities: z.number().int().min(1).default(100),
    // Retention of ended work claims and threads; the same background sweep and retention_batch as messages and tasks.
    /** Seconds a released or expired work claim is kept after it ended (30 days); 0 keeps ended claims however old. */
    claim_retention: z.number().min(0).default(2_592_000),
    /** Seconds a resolved, closed or cancelled thread (with its messages) is kept after its last change (30 days); 0 keeps them however old. */
    thread_retention: z.number().min(0).default(2_592_000),
  })
  .prefault({});

/** The coordination options, defaults applied. */
export type CoordOptions = z.infer<typeof CoordOptionsSchema>;

/** What a config file may contain for [coordination] (every key optional). */
export type CoordOptionsInput = z.input<typeof CoordOptionsSchema>;

/** Parses [coordination] (or nothing) into options with defaults; throws a ZodError naming the bad key. */
export function coordOptions(input: CoordOptionsInput = {}): CoordOptions {
  return Object.freeze(CoordOptionsSchema.parse(input));
}
