import type { Client, DiscoverResult, PriorDiscovery, VersionNegotiationOptions } from '@modelcontextprotocol/client';
import type { BackendConfig, BackendProtocol } from '../config/schema.js';
import type { Logger } from '../log.js';
import { type ProbeOutcome, probeStdioEra } from './era-probe.js';

/** The two protocol eras: 2025-11-25 and before (`initialize`, sessions) and 2026-07-28 (`server/discover`, per request). */
export type Era = 'legacy' | 'modern';

/** What the gateway knows of a backend's era, and how it knows it. */
export interface EraVerdict {
  era: Era;
  /** The protocol version spoken (the configured one, or the negotiated one once a connection told it); null when not known yet. */
  version: string | null;
  /** When the backend was asked (ms since the epoch); null for a configured era. */
  probedAt: number | null;
  how: 'configured' | 'probed';
}

/** A backend's `protocol` as /server/list shows it. */
export interface ProtocolView {
  /** The entry's `protocol` after defaults: `auto`, `2025-11-25` or `2026-07-28`. */
  configured: BackendProtocol;
  /** null while an `auto` backend has not been asked yet (or since a restart dropped the verdict). */
  era: Era | null;
  version: string | null;
  how: EraVerdict['how'] | null;
  /** ISO time of the probe behind a probed verdict. */
  probed_at: string | null;
}

/**
 * How long a probed verdict is trusted without a restart: a stale legacy
 * verdict would succeed silently forever (an upgraded server still answers
 * initialize), so it is asked again after this.
 */
export const ERA_HORIZON_MS = 24 * 60 * 60 * 1000;

export const MODERN_VERSION = '2026-07-28';

/**
 * One backend's era verdict cache ([[backends]] protocol), kept in memory on
 * the Backend and shared by every connection of one start:
 *
 * - `2025-11-25`: legacy, never asked; `2026-07-28`: modern, never asked
 *   (the SDK Client is pinned to it). Builtin backends are in-process
 *   2025 servers: `auto` there is legacy.
 * - `auto` on http: the first connection's SDK Client probes in place
 *   (`negotiation()` gives `mode: 'auto'`) and the connect code reports the
 *   outcome with `learn(client)`; later connections pass `prior()`.
 * - `auto` on stdio: `settle()` (the Backend calls it before each connect)
 *   asks a throwaway process once per start (era-probe.ts), so the real
 *   child sees no pre-initialize request; connections pass `prior()`.
 *
 * `reset()` (a start, a restart after a crash or a failed connect) drops a
 * probed verdict: the next connect asks again. A verdict older than
 * ERA_HORIZON_MS is asked again too. Only a successful probe or connect is
 * recorded: an auth refusal or a 5xx on an http probe fails the connect and
 * leaves nothing cached.
 */
export class BackendEra {
  readonly #config: BackendConfig;
  readonly #log: Logger;
  readonly #probe: (config: BackendConfig, logger: Logger) => Promise<ProbeOutcome>;
  #verdict: EraVerdict | undefined;
  #discover: DiscoverResult | undefined;
  #pending: Promise<void> | undefined;
  /** Bumped by reset(): a probe that started before it records nothing. */
  #epoch = 0;

  constructor(config: BackendConfig, logger: Logger, probe = probeStdioEra) {
    this.#config = config;
    this.#log = logger;
    this.#probe = probe;
    this.#verdict = configuredVerdict(config);
  }

  /** The current verdict; undefined while an `auto` backend has not been asked. */
  get verdict(): EraVerdict | undefined {
    return this.#fresh() ? this.#verdict : undefined;
  }

  /** True when the backend's era is decided by asking it (`auto` on http or stdio). */
  get probes(): boolean {
    return this.#config.protocol === 'auto' && this.#config.transport !== 'builtin';
  }

  /**
   * The SDK Client's `versionNegotiation` for a new connection: a pin for a
   * configured 2026-07-28, `auto` for http `auto` (a known verdict still
   * rides in `prior()`, which takes precedence), else undefined (legacy: the
   * plain initialize). Never `auto` on stdio: that would probe in place.
   */
  negotiation(): VersionNegotiationOptions | undefined {
    if (this.#config.protocol === MODERN_VERSION) return { mode: { pin: MODERN_VERSION } };
    if (this.probes && this.#config.transport === 'http') return { mode: 'auto', probe: { timeoutMs: this.#config.startTimeout } };
    return undefined;
  }

  /** The cached verdict for `client.connect(transport, { prior })`: no probe on this connection. undefined when there is none to give. */
  prior(): PriorDiscovery | undefined {
    const verdict = this.verdict;
    if (verdict === undefined) return undefined;
    if (verdict.era === 'legacy') return { kind: 'legacy' };
    return this.#discover === undefined ? undefined : { kind: 'modern', discover: this.#discover };
  }

  /**
   * Before a connect: decides the era where it must be known first (stdio
   * `auto`: one throwaway probe per start; concurrent connects share it).
   * Never rejects: a probe process that cannot even start leaves the
   * verdict unknown, and the real start reports why.
   */
  async settle(): Promise<void> {
    if (!this.probes || this.#config.transport !== 'stdio' || this.verdict !== undefined) return;
    if (this.#pending === undefined) {
      const pending = this.#ask().finally(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
      this.#pending = pending;
    }
    await this.#pending;
  }

  /**
   * After a connect succeeded: records what the SDK Client negotiated (the
   * in-place probe of http `auto`; the version and DiscoverResult of any
   * other connection, so later ones can pass a modern `prior()`).
   */
  learn(client: Client): void {
    const era = client.getProtocolEra();
    if (era === undefined) return;
    const version = client.getNegotiatedProtocolVersion() ?? null;
    const discover = client.getDiscoverResult();
    if (era === 'modern' && discover !== undefined) this.#discover = discover;
    const known = this.verdict;
    if (known !== undefined && known.era === era) {
      if (version !== null) known.version = version;
      return;
    }
    if (known?.how === 'configured') return; // a pinned client cannot disagree; nothing to learn
    this.#record({ era, version, probedAt: Date.now(), how: 'probed' });
  }

  /** The backend (re)starts: a probed verdict is dropped and asked again at the next connect. */
  reset(): void {
    this.#epoch += 1;
    this.#pending = undefined;
    this.#discover = undefined;
    this.#verdict = configuredVerdict(this.#config);
  }

  /** For /server/list. */
  view(): ProtocolView {
    const verdict = this.verdict;
    return {
      configured: this.#config.protocol,
      era: verdict?.era ?? null,
      version: verdict?.version ?? null,
      how: verdict?.how ?? null,
      probed_at: verdict?.probedAt == null ? null : new Date(verdict.probedAt).toISOString(),
    };
  }

  async #ask(): Promise<void> {
    const epoch = this.#epoch;
    const started = Date.now();
    let outcome: ProbeOutcome;
    try {
      outcome = await this.#probe(this.#config, this.#log);
    } catch (err) {
      this.#log.warn({ error: (err as Error).message }, 'era probe process could not start; era unknown');
      return;
    }
    if (epoch !== this.#epoch) return;
    if (outcome.era === 'modern') this.#discover = outcome.discover;
    this.#record({ era: outcome.era, version: outcome.version, probedAt: started, how: 'probed' });
    if (outcome.era === 'legacy' && outcome.why !== null) this.#log.info({ why: outcome.why }, 'era probe: no server/discover answer; legacy');
  }

  #record(verdict: EraVerdict): void {
    this.#verdict = verdict;
    this.#log.info({ era: verdict.era, version: verdict.version }, `backend era: ${verdict.era}`);
  }

  #fresh(): boolean {
    const verdict = this.#verdict;
    return verdict !== undefined && (verdict.probedAt === null || Date.now() - verdict.probedAt < ERA_HORIZON_MS);
  }
}

function configuredVerdict(config: BackendConfig): EraVerdict | undefined {
  if (config.protocol === MODERN_VERSION) return { era: 'modern', version: MODERN_VERSION, probedAt: null, how: 'configured' };
  if (config.protocol === 'auto' && config.transport !== 'builtin') return undefined;
  return { era: 'legacy', version: config.protocol === 'auto' ? null : config.protocol, probedAt: null, how: 'configured' };
}
