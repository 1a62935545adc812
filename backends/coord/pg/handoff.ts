import type { MessageRow } from '../rows.js';

/**
 * A long-poll parked on this gateway ([pg-speed], issue #31): its last read
 * found nothing in its inbox past `after`.
 */
export interface Parked {
  readonly after: number;
  /** Whether the poll reads on the stored cursor (no `after` from the caller): a handoff then moves the cursor too. */
  readonly onCursor: boolean;
  /** Set by the one send that offers this poll its message; resolves to the message when the database handed it over. */
  offer: Promise<MessageRow | undefined> | undefined;
}

/** What a send learns when it may offer its message to a parked poll; `settle` tells the poll the outcome, once. */
export interface Offer {
  readonly after: number;
  readonly onCursor: boolean;
  settle(handed: MessageRow | undefined): void;
}

/**
 * The long-polls parked on this gateway, by inbox topic, so a send to that
 * inbox hands its message over inside its own statement (coord_send; the
 * ordering argument is HANDOFF ORDER in handoff-functions.ts) and the poll
 * answers without a second read. A poll without a handoff reads as before:
 * the database decides, this map only says who may be asked.
 */
export class Handoffs {
  readonly #parked = new Map<string, Set<Parked>>();

  park(inbox: string, after: number, onCursor: boolean): Parked {
    const parked: Parked = { after, onCursor, offer: undefined };
    let set = this.#parked.get(inbox);
    if (set === undefined) {
      set = new Set();
      this.#parked.set(inbox, set);
    }
    set.add(parked);
    return parked;
  }

  leave(inbox: string, parked: Parked): void {
    const set = this.#parked.get(inbox);
    if (set === undefined) return;
    set.delete(parked);
    if (set.size === 0) this.#parked.delete(inbox);
  }

  /** For a send to `inbox`: one parked poll no other send has offered to yet, now reserved for this send. */
  offer(inbox: string): Offer | undefined {
    const set = this.#parked.get(inbox);
    if (set === undefined) return undefined;
    for (const parked of set) {
      if (parked.offer !== undefined) continue;
      let settle: (handed: MessageRow | undefined) => void = () => undefined;
      parked.offer = new Promise((resolve) => {
        settle = resolve;
      });
      return { after: parked.after, onCursor: parked.onCursor, settle };
    }
    return undefined;
  }
}
