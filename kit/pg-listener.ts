import type { KitLogger } from './logger.js';
import { type HubSubscriber, LISTENER_APPLICATION_NAME, PgListenHub } from './pg-listen-hub.js';
import type { PgSettings } from './pg-pool.js';

export { LISTENER_APPLICATION_NAME };

/**
 * LISTENs on a channel and hands each payload to `onPayload`: how a
 * long-poll on one gateway hears a write committed by another. A lost
 * connection is reopened (after `retryMs`); `onGap` runs then, since
 * notifications sent meanwhile are gone and waiters must re-check.
 *
 * The connection is this listener's own, or with `settings.sharedListen`
 * the process's one listening connection to that database, shared by every
 * channel ([pg-speed]: kit/pg-listen-hub.ts has why).
 */
export class PgListener {
  #closed = false;

  private constructor(
    private readonly hub: PgListenHub,
    private readonly subscriber: HubSubscriber,
  ) {}

  /** Connects (or joins the shared connection) and LISTENs before returning, so no commit after it is missed. */
  static async open(settings: PgSettings, channel: string, onPayload: (payload: string) => void, onGap: () => void, logger?: KitLogger, retryMs = 1_000): Promise<PgListener> {
    const hub = settings.sharedListen === true ? PgListenHub.shared(settings, logger, retryMs) : new PgListenHub(settings, logger, retryMs);
    const subscriber: HubSubscriber = { channel, onPayload, onGap };
    await hub.add(subscriber);
    return new PgListener(hub, subscriber);
  }

  /**
   * Runs one statement on the listening connection while it is up (undefined
   * while it is being reopened): a writer that NOTIFYs from here waits for no
   * pool connection ([pg-speed]: kit/pg-announcer.ts).
   */
  query(sql: string, params: unknown[]): Promise<unknown> | undefined {
    return this.#closed ? undefined : this.hub.query(sql, params);
  }

  /** Stops listening (the last listener of a shared connection closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.hub.remove(this.subscriber);
  }
}
