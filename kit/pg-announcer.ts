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
 *
 * ALONE ([pg-speed], issue #31). A process that has heard no other process
 * on its channel announces nothing: a NOTIFY nobody else reads still costs
 * a round trip, and PostgreSQL wakes every listening connection of the
 * database for it. Processes find each other with three control words, sent
 * like topics:
 *
 * - HELLO, when a process starts listening (and again after its listening
 *   connection was reopened): "I am here, I may have missed commits".
 * - A process that hears HELLO (or any word or topic from another process)
 *   announces from then on, re-reads every waiter (commits it left
 *   unannounced before it heard were made before its reply, below), and
 *   replies HERE.
 * - A process that hears HERE while it still thought itself alone starts
 *   announcing, re-reads every waiter and sends SYNCED; whoever hears
 *   SYNCED re-reads every waiter.
 *
 * Why nothing is missed for longer than one round of these words: a commit
 * a process did not announce was made before it heard of the other process
 * (it announces from that moment), so before the word it sends next (HERE
 * or SYNCED); the other process re-reads when that word arrives, which is
 * after the word's own commit and therefore after that commit. A reader's
 * re-read finds everything committed before it. The words themselves are
 * NOTIFYs, delivered to every listener in commit order.
 */

/** Separates the sender's tag and the topics of one payload. Topics never hold it (they are names joined by U+001F). */
export const TOPIC_SEPARATOR = '\u001e';

/** The control words of ALONE above; no topic starts with U+0001 (an older process that reads one wakes nobody). */
const HELLO = '\u0001hello';
const HERE = '\u0001here';
const SYNCED = '\u0001synced';

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
  /** Whether another process was heard on the channel (ALONE above); until then nothing is announced. */
  #peers = false;

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

  /** Whether announce() sends anything now: false while this process has heard no other (ALONE above) and once closed. */
  get announcing(): boolean {
    return !this.#closed && this.#peers;
  }

  /** Queues `topic` (already in payload form) for the next NOTIFY. */
  announce(topic: string): void {
    if (!this.announcing) return;
    this.#pending.add(topic);
    if (this.#scheduled || this.#flight !== undefined) return;
    // A microtask: the topics of one operation (an inbox and the event log) leave together.
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  /** Says HELLO (ALONE above): when this process starts listening, and again after its listening connection was reopened. */
  hello(): void {
    this.#say(HELLO);
  }

  /**
   * A payload heard on the channel: the topics whose waiters to wake, and
   * whether every waiter must re-read (ALONE above). This process's own
   * payloads wake nothing: it woke its waiters at the commit.
   */
  heard(payload: string): { topics: string[]; catchUp: boolean } {
    const { tag, topics } = readAnnouncement(payload);
    if (tag === this.tag) return { topics: [], catchUp: false };
    const wasAlone = !this.#peers;
    this.#peers = true;
    const wake: string[] = [];
    let catchUp = false;
    for (const topic of topics) {
      if (topic === HELLO) {
        catchUp = true;
        this.#say(HERE);
      } else if (topic === HERE) {
        catchUp = true;
        if (wasAlone) this.#say(SYNCED);
      } else if (topic === SYNCED) catchUp = true;
      else wake.push(topic);
    }
    // An older process says no HELLO: its first announcement is how this one learns of it; re-read once.
    if (wasAlone) catchUp = true;
    return { topics: wake, catchUp };
  }

  /** Sends a control word now (not coalesced: it orders against commits, see ALONE). */
  #say(word: string): void {
    if (this.#closed) return;
    void Promise.resolve()
      .then(() => this.run('SELECT pg_notify($1, $2)', [this.channel, this.tag + TOPIC_SEPARATOR + word]))
      .catch((err: unknown) => this.logger?.warn({ err }, 'could not tell the other processes on the database that this one listens; they re-read within their recheck interval'));
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
