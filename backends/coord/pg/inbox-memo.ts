/*
 * What this gateway last knew of each inbox it polled ([pg-speed], issue
 * #31): a poll that starts right after the agent's previous read found its
 * inbox empty past the cursor, with no write to the inbox heard since, parks
 * without reading again. Every delivered message otherwise cost a second
 * read when the agent polled again (on one gateway after a handoff; on two,
 * after each woken read), which found nothing.
 *
 * KNOWN. An entry's version is taken before the statement that learnt the
 * inbox's state is sent (a poll's read, or a send that handed its message
 * to a parked poll, whose commit held the inbox's writer lock). A commit to
 * the inbox that the statement did not see committed after that statement
 * started, so the wake-up for it (this gateway's own, at its commit; another
 * gateway's NOTIFY, sent after its commit) reaches touch() after the version
 * was taken, and invalidates the entry. An entry is recorded only when the
 * version is still the one taken, so it never claims an inbox empty past a
 * message whose wake-up was heard. A poll that skips its read took its
 * notifier mark before it looks here (long-poll.ts, MARK), so such a
 * wake-up, if it comes later, sends it to read at once instead of waiting.
 * After a gap (the LISTEN connection reopened) every entry is dropped.
 *
 * An entry counts for FRESH_MS only: the read also refreshes the agent's
 * last-seen time (kept to the second: coord_seen), and finds an agent that
 * was deregistered; a poll within a second of the previous read skips both.
 */

/** How long an entry may stand in for a read. */
export const FRESH_MS = 1_000;

/** Beyond this many inboxes the memo starts again (dropping entries only costs reads). */
const MAX_ENTRIES = 10_000;

interface Entry {
  version: number;
  /** The cursor position past which the inbox held nothing, when recorded. */
  position: number | undefined;
  at: number;
}

/** Per inbox topic: a version bumped by every wake-up, and the last known-empty cursor position (see KNOWN above). */
export class InboxMemo {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Before a statement that learns the inbox's state: the version to record against. */
  begin(inbox: string): { entry: Entry; version: number } {
    let entry = this.#entries.get(inbox);
    if (entry === undefined) {
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
      entry = { version: 0, position: undefined, at: 0 };
      this.#entries.set(inbox, entry);
    }
    return { entry, version: entry.version };
  }

  /**
   * After it: the inbox held nothing past `position` (on the cursor), unless a wake-up came in between. `ownWakes`: the
   * wake-ups of the statement's own commit already sent (a send's, for the message it handed over).
   */
  record(inbox: string, taken: { entry: Entry; version: number }, position: number, ownWakes = 0): void {
    if (this.#entries.get(inbox) !== taken.entry || taken.entry.version !== taken.version + ownWakes) return;
    taken.entry.position = position;
    taken.entry.at = this.now();
  }

  /** The cursor position past which the inbox is known empty now, if it is. */
  emptyPast(inbox: string): number | undefined {
    const entry = this.#entries.get(inbox);
    if (entry?.position === undefined || this.now() - entry.at >= FRESH_MS) return undefined;
    return entry.position;
  }

  /** A write to `topic` committed (here or on another gateway): what was known of it no longer holds. */
  touch(topic: string): void {
    const entry = this.#entries.get(topic);
    if (entry === undefined) return;
    entry.version += 1;
    entry.position = undefined;
  }

  /** After a gap in the wake-ups: nothing known holds. */
  clear(): void {
    this.#entries.clear();
  }
}
