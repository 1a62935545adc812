import { z } from 'zod';

/*
 * The [coordination] keys of stonegate.toml (stonemux-reference.txt
 * [coordination] and [events], flattened into one section). Defaults live
 * here and nowhere else. Durations are seconds, as in the reference; they may
 * be fractional, which tests use for short leases and stale thresholds.
 */

const seconds = z.number().positive();
const bytes = z.number().int().min(1);

export const CoordOptionsSchema = z
  .strictObject({
    /** Maximum message content size in UTF-8 bytes (send and broadcast). */
    max_message_size: bytes.default(65_536),
    /** Maximum size in bytes of a state value, task description, result or metadata (serialized). */
    max_value_size: bytes.default(1_048_576),
    /** Upper bound for the `timeout` of poll and state watch, in seconds. */
    poll_timeout_max: seconds.default(120),
    /** Seconds a claimed task may stay uncompleted before it returns to pending. */
    task_claim_timeout: seconds.default(300),
    /** Seconds between heartbeats an agent is asked to keep (reported to agents, not enforced). */
    heartbeat_interval: seconds.default(60),
    /** Seconds without a heartbeat (or any other call by the agent) before it is reported stale. */
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
    // Limits of one request ([coord-2] #21 item 10); over one, PAYLOAD_TOO_LARGE names the limit and its key (limits.ts).
    /** Most characters of a work claim's intent or a consultation thread's subject (thread messages are held to max_message_size). */
    max_intent_length: z.number().int().min(1).default(8_000),
    /** Most entries of one list field of a work claim or thread: paths, depends_on, modules, participants, claim_ids. */
    max_list_entries: z.number().int().min(1).default(200),
    /** Most characters of one path (or glob) of a work claim or thread. */
    max_path_length: z.number().int().min(1).default(512),
    /** Most capabilities one agent may register. */
    max_capabilities: z.number().int().min(1).default(100),
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
