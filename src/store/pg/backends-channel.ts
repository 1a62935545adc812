import { PgListener } from '../../../kit/pg-listener.js';
import type { PgSettings } from '../../../kit/pg-pool.js';
import type { Logger } from '../../log.js';

/** The NOTIFY channel of runtime backend changes, which tool fingerprint changes share. */
export const BACKENDS_CHANNEL = 'stonegate_backends';

/**
 * The payload prefix of a fingerprint change: `tools:<backend>`. A backend
 * name has no ':' ([A-Za-z0-9_-]), so a runtime backend change (the bare
 * name) is never mistaken for one; a gateway of an older version reads it
 * as a backend it has not got, and its reconcile does nothing.
 */
export const TOOLS_PAYLOAD = 'tools:';

/** Who hears fingerprint changes: per backend, and after the connection was lost (notifications may be gone). */
export interface ToolsListener {
  changed(server: string): void;
  gap(): void;
}

/** Who hears runtime backend changes: by name, and after the connection was lost, as for fingerprints. */
type BackendListener = ToolsListener;

/**
 * One LISTEN connection for the gateway's own shared state: runtime
 * backends and tool fingerprints, told apart by the payload. One
 * connection rather than one each, so a gateway holds no more of
 * PostgreSQL's max_connections than before fingerprints were shared.
 */
export class BackendsChannel {
  readonly #backends = new Set<BackendListener>();
  #tools: ToolsListener | undefined;
  #listener: PgListener | undefined;

  /** Connects and LISTENs before returning, so no commit after it is missed. */
  static async open(settings: PgSettings, logger?: Logger): Promise<BackendsChannel> {
    const channel = new BackendsChannel();
    channel.#listener = await PgListener.open(
      settings,
      BACKENDS_CHANNEL,
      (payload) => channel.#payload(payload),
      () => channel.#gap(),
      logger,
    );
    return channel;
  }

  #payload(payload: string): void {
    if (payload.startsWith(TOOLS_PAYLOAD)) this.#tools?.changed(payload.slice(TOOLS_PAYLOAD.length));
    else for (const listener of this.#backends) listener.changed(payload);
  }

  /** The connection was reopened: what was NOTIFYed meanwhile is gone, for backends and fingerprints alike. */
  #gap(): void {
    this.#tools?.gap();
    for (const listener of this.#backends) listener.gap();
  }

  /** Hands fingerprint changes to `listener` (one: the gateway's fingerprint store). */
  onTools(listener: ToolsListener): void {
    this.#tools = listener;
  }

  /** Calls `onChange` with each runtime backend change's name, `onGap` after a lost connection; returns how to stop. */
  onBackend(onChange: (name: string) => void, onGap: () => void): () => Promise<void> {
    const listener: BackendListener = { changed: onChange, gap: onGap };
    this.#backends.add(listener);
    return async () => void this.#backends.delete(listener);
  }

  /** Stops listening. Idempotent. */
  async close(): Promise<void> {
    await this.#listener?.close();
  }
}
