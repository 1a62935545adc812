import type { ClientOptions, Transport } from '@modelcontextprotocol/client';
import { type Client, SdkHttpError } from '@modelcontextprotocol/client';
import { BackendClient } from '../pool/backend-client.js';
import { VERSION } from '../version.js';
import type { BackendEra } from './era.js';

/** What a new connection is told to do with what the backend sends unasked. */
export interface ConnectHooks {
  /** Client options (capabilities) announced to the backend. */
  clientOptions?: ClientOptions;
  /** Called with the fresh client before initialize, to install notification handlers. */
  setup?: (client: Client) => void;
  /**
   * [mcp-bridge] The backend's era verdict cache (era.ts): a connector gives
   * the Client `era.negotiation()` and `connect(…, { prior: era.prior() })`,
   * and reports a successful connect with `era.learn(client)`.
   */
  era?: BackendEra;
  /** [mcp-bridge] Called once the client is connected (a 2026-07-28 backend's changes come on a subscriptions/listen stream it opens). */
  connected?: (client: Client) => void;
}

/** A fresh MCP client with the hooks installed, for one connection. */
export function newClient(hooks: ConnectHooks, versionNegotiation?: ClientOptions['versionNegotiation']): Client {
  const options = hooks.clientOptions ?? { capabilities: {} };
  // [mcp-ext] BackendClient: takes a 2026-07-28 backend's task answer (pool/backend-client.ts).
  const client = new BackendClient({ name: 'stonegate', version: VERSION }, versionNegotiation === undefined ? options : { ...options, versionNegotiation });
  hooks.setup?.(client);
  return client;
}

/** The hooks for a transport of the 2025 era only (legacy SSE): no version negotiation. */
export function legacyHooks(hooks: ConnectHooks): ConnectHooks {
  if (hooks.clientOptions?.versionNegotiation === undefined) return hooks;
  const { versionNegotiation: _negotiation, inputRequired: _input, ...options } = hooks.clientOptions;
  return { ...hooks, clientOptions: options };
}

/** Settles like `work`, or rejects with a timeout after `ms`, calling `abandon` (which closes the transport, so no fetch is left open). */
export async function withinDeadline(work: Promise<void>, ms: number, abandon: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void abandon().catch(() => undefined);
      reject(new Error('Request timed out: start_timeout ran out while connecting'));
    }, ms);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watches a transport's close. Set before connect(): the SDK's Protocol
 * keeps an onclose it finds and calls it before its own.
 */
export function transportClosed(transport: Transport, callback: () => void): void {
  transport.onclose = callback;
}

/** The backend's name and version from its initialize answer, for the debug log. */
export function serverInfo(client: Client): { name: string; version: string } | null {
  const info = client.getServerVersion();
  return info === undefined ? null : { name: info.name, version: info.version };
}

/** An initialize failure as a sentence: a timeout names start_timeout. */
export function describeInitError(err: unknown, timeout: number): string {
  let message = err instanceof Error ? err.message : String(err);
  // [mcp-bridge] An HTTP refusal of the era probe (401, 403, 5xx) keeps the server's words in data.text.
  const text = err instanceof SdkHttpError ? err.data.text : undefined;
  if (typeof text === 'string' && text.trim() !== '' && !message.includes(text.trim())) message = `${message}: ${text.trim().slice(0, 500)}`;
  if (/timed out/i.test(message)) return `no answer to initialize within ${timeout} ms`;
  return message;
}

/** Resolves undefined after `ms` (never holding the process open). */
export function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
