import pg from 'pg';
import type { KitLogger } from './logger.js';
import { clientConfig, type PgSettings } from './pg-pool.js';

/** The application_name of every listening connection. */
export const LISTENER_APPLICATION_NAME = 'stonegate listen';

/** One LISTENer on a hub: its channel, what to do with a payload, and with a gap (the connection was reopened). */
export interface HubSubscriber {
  readonly channel: string;
  onPayload(payload: string): void;
  onGap(): void;
}

/*
 * One LISTEN connection carrying several channels ([pg-speed], issue #31).
 *
 * PostgreSQL wakes every listening connection of a database for each NOTIFY,
 * whatever its channels (SignalBackends in src/backend/commands/async.c, up
 * to PostgreSQL 18): each connection's backend process is signalled, reads
 * the notification queue and skips what it does not listen to. A gateway
 * used to hold three (coordination, async dispatch, runtime backends and
 * fingerprints), so each wake-up cost the database three process wakes per
 * gateway. A gateway now opens one hub for its database and every store
 * LISTENs through it (PgSettings.sharedListen).
 */
export class PgListenHub {
  static readonly #shared = new Map<string, PgListenHub>();

  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  /** Channels LISTENed on the current client (the promise settles once the LISTEN has run). */
  #listened = new Map<string, Promise<void>>();
  readonly #subscribers = new Set<HubSubscriber>();
  #timer: NodeJS.Timeout | undefined;
  #lost = false;
  #closed = false;

  constructor(
    private readonly settings: PgSettings,
    private readonly logger: KitLogger | undefined,
    private readonly retryMs: number,
    private readonly onEmpty: () => void = () => undefined,
  ) {}

  /** The process's one hub for `settings.url` (created on first use, gone when its last subscriber leaves). */
  static shared(settings: PgSettings, logger: KitLogger | undefined, retryMs: number): PgListenHub {
    const key = settings.url;
    let hub = PgListenHub.#shared.get(key);
    if (hub === undefined || hub.#closed) {
      hub = new PgListenHub(settings, logger, retryMs, () => {
        if (PgListenHub.#shared.get(key) === hub) PgListenHub.#shared.delete(key);
      });
      PgListenHub.#shared.set(key, hub);
    }
    return hub;
  }

  /** Adds `subscriber`; resolves once its channel is LISTENed, so no commit after it is missed. */
  async add(subscriber: HubSubscriber): Promise<void> {
    this.#subscribers.add(subscriber);
    try {
      const client = await this.#ready();
      await this.#listen(client, subscriber.channel);
    } catch (error) {
      await this.remove(subscriber);
      throw error;
    }
  }

  /** Removes `subscriber`; the last one closes the connection. */
  async remove(subscriber: HubSubscriber): Promise<void> {
    if (!this.#subscribers.delete(subscriber)) return;
    if (this.#subscribers.size > 0) return;
    this.#closed = true;
    this.onEmpty();
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Runs one statement on the listening connection while it is up (undefined while it is being reopened). */
  query(sql: string, params: unknown[]): Promise<unknown> | undefined {
    return this.#client?.query(sql, params);
  }

  #ready(): Promise<pg.Client> {
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #listen(client: pg.Client, channel: string): Promise<void> {
    let listening = this.#listened.get(channel);
    if (listening === undefined) {
      listening = client.query(`LISTEN "${channel}"`).then(() => undefined);
      this.#listened.set(channel, listening);
      listening.catch(() => this.#listened.delete(channel));
    }
    await listening;
  }

  async #connect(): Promise<pg.Client> {
    // Named, so pg_stat_activity shows which connections listen (they also send the coordination store's NOTIFYs).
    const { url, connectTimeoutMs } = this.settings;
    const client = new pg.Client({
      ...clientConfig({ url, ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }) }),
      application_name: LISTENER_APPLICATION_NAME,
    });
    client.on('notification', (n) => {
      if (n.payload === undefined) return;
      for (const subscriber of this.#subscribers) if (subscriber.channel === n.channel) subscriber.onPayload(n.payload);
    });
    client.on('error', (err) => this.logger?.warn({ err }, 'coordination LISTEN connection failed; reconnecting'));
    try {
      await client.connect();
      const channels = [...new Set([...this.#subscribers].map((s) => s.channel))];
      // Several LISTENs in one simple-protocol round trip.
      if (channels.length > 0) await client.query(channels.map((c) => `LISTEN "${c}"`).join(';'));
      if (this.#closed) throw new Error('the listening connection was closed while it opened');
      this.#listened = new Map(channels.map((c) => [c, Promise.resolve()]));
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    client.on('end', () => this.#drop(client));
    this.#client = client;
    clearTimeout(this.#timer);
    if (this.#lost) {
      // Notifications sent while the connection was down are gone: every subscriber re-reads.
      this.#lost = false;
      for (const subscriber of this.#subscribers) subscriber.onGap();
    }
    return client;
  }

  #drop(client: pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    this.#listened.clear();
    this.#lost = true;
    const retry = (): void => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#ready().catch(() => {
        this.#timer = setTimeout(retry, this.retryMs);
        this.#timer.unref();
      });
    };
    this.#timer = setTimeout(retry, this.retryMs);
    this.#timer.unref();
  }
}
