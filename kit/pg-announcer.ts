import type { KitLogger } from './logger.js';

/*
 * Wake-ups for the other processes on a database, sent after the write that
 * caused them has committed ([pg-speed], issue #31).
 *
 * Why not NOTIFY inside the writing transaction: PostgreSQL serializes every
 * transaction that has NOTIFYed on one database-wide lock, taken just before
 * its commit record and held until the commit is flushed to disk
 * (PreCommit_Notify in src/backend/commands/async.c). Writers that notify
 * therefore fsync one after another and never share a flush; the coord-pg
 * bench's profile showed most backends waiting on that lock ("Lock:object").
 *
 * Here the writer commits without notifying and then announces: topics wait
 * in a set, and one statement at a time carries all of them, in payloads of
 * up to PAYLOAD_BYTES, from a transaction that writes nothing (so its commit
 * waits for no flush). Under load the set fills while a statement is out, so
 * many commits share one NOTIFY. The other processes still wake only after
 * the data is there: the announcement starts after the commit returned.
 *
 * The cost of the order: a process that dies between its commit and the
 * announcement wakes nobody elsewhere; waiters there re-read on their own
 * within their recheck interval (long-poll.ts), as after a lost LISTEN
 * connection.
 */

/** Separates the sender's tag and the topics of one payload. Topics never hold it (they are names joined by U+001F). */
export const TOPIC_SEPARATOR = '\u001e';

/** NOTIFY payloads must stay under 8000 bytes. */
const PAYLOAD_BYTES = 7_000;

/** Splits a payload into its sender's tag and topics; an old sender's payload (one topic, no tag) has tag ''. */
export function readAnnouncement(payload: string): { tag: string; topics: string[] } {
  const parts = payload.split(TOPIC_SEPARATOR);
  if (parts.length === 1) return { tag: '', topics: parts };
  const [tag = '', ...topics] = parts;
  return { tag, topics };
}

/** Sends coalesced NOTIFYs on one channel after commits; see the note above. */
export class PgAnnouncer {
  #pending = new Set<string>();
  #flight: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;

  /**
   * `run` sends one statement (the store gives the LISTEN connection while it is up, else the pool); `tag` marks this
   * process's payloads, so its own listener can skip them (it woke its waiters already).
   */
  constructor(
    private readonly run: (sql: string, params: unknown[]) => Promise<unknown>,
    private readonly channel: string,
    readonly tag: string,
    private readonly logger?: KitLogger,
  ) {}

  /** Queues `topic` (already in payload form) for the next NOTIFY. */
  announce(topic: string): void {
    if (this.#closed) return;
    this.#pending.add(topic);
    if (this.#scheduled || this.#flight !== undefined) return;
    // A microtask: the topics of one operation (an inbox and the event log) leave together.
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#flight !== undefined || this.#pending.size === 0) return;
    const payloads = this.#payloads([...this.#pending]);
    this.#pending.clear();
    this.#flight = Promise.resolve()
      .then(() => this.run('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [this.channel, payloads]))
      .then(
        () => undefined,
        (err: unknown) => this.logger?.warn({ err }, 'could not announce a write to the other processes; they re-read within their recheck interval'),
      )
      .finally(() => {
        this.#flight = undefined;
        this.#flush();
      });
  }

  #payloads(topics: string[]): string[] {
    const out: string[] = [];
    let current = this.tag;
    for (const topic of topics) {
      if (current !== this.tag && Buffer.byteLength(current) + Buffer.byteLength(topic) + 1 > PAYLOAD_BYTES) {
        out.push(current);
        current = this.tag;
      }
      current += TOPIC_SEPARATOR + topic;
    }
    if (current !== this.tag) out.push(current);
    return out;
  }

  /** Sends what is queued, waits for it, then refuses more. Idempotent. */
  async close(): Promise<void> {
    this.#flush();
    while (this.#flight !== undefined) await this.#flight;
    this.#closed = true;
  }
}
