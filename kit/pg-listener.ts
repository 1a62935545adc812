import pg from 'pg';
import type { KitLogger } from './logger.js';
import { clientConfig, type PgSettings } from './pg-pool.js';

/** The application_name of every listening connection. */
export const LISTENER_APPLICATION_NAME = 'stonegate listen';

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
    // Named, so pg_stat_activity shows which connections listen (they also send the coordination store's NOTIFYs).
    const client = new pg.Client({ ...clientConfig(this.settings), application_name: LISTENER_APPLICATION_NAME });
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

  /**
   * Runs one statement on the listening connection while it is up (undefined
   * while it is being reopened): a writer that NOTIFYs from here waits for no
   * pool connection ([pg-speed]: kit/pg-announcer.ts).
   */
  query(sql: string, params: unknown[]): Promise<unknown> | undefined {
    return this.#client?.query(sql, params);
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
