import pg from 'pg';
import type { KitLogger } from './logger.js';
import { clientConfig, type PgSettings } from './pg-pool.js';

/**
 * One connection that LISTENs on a channel and hands each payload to
 * `onPayload`: how a long-poll on one gateway hears a write committed by
 * another. A lost connection is reopened (after `retryMs`); `onGap` runs
 * then, since notifications sent meanwhile are gone and waiters must re-check.
 */
export class PgListener {
  #client: pg.Client | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly settings: PgSettings,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
    private readonly onGap: () => void,
    private readonly logger: KitLogger | undefined,
    private readonly retryMs: number,
  ) {}

  /** Connects and LISTENs before returning, so no commit after it is missed. */
  static async open(settings: PgSettings, channel: string, onPayload: (payload: string) => void, onGap: () => void, logger?: KitLogger, retryMs = 1_000): Promise<PgListener> {
    const listener = new PgListener(settings, channel, onPayload, onGap, logger, retryMs);
    await listener.#connect();
    return listener;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(clientConfig(this.settings));
    client.on('notification', (n) => {
      if (n.channel === this.channel && n.payload !== undefined) this.onPayload(n.payload);
    });
    client.on('error', (err) => this.logger?.warn({ err }, 'coordination LISTEN connection failed; reconnecting'));
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN "${this.channel}"`);
    if (this.#closed) {
      await client.end();
      return;
    }
    this.#client = client;
  }

  #lost(client: pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    const retry = (): void => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#connect().then(this.onGap, () => {
        this.#timer = setTimeout(retry, this.retryMs);
        this.#timer.unref();
      });
    };
    this.#timer = setTimeout(retry, this.retryMs);
    this.#timer.unref();
  }

  /** Stops listening. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
