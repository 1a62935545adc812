/** The most identities kept; the one seen longest ago goes first. */
const MAX_NAMES = 10_000;

interface Held {
  token: string;
  /** When the token expires (ms since the epoch). */
  until: number;
}

/**
 * [oauth-out] The inbound OAuth access token of each OAuth identity, by its
 * name (`oauth:<sub>`), for token exchange toward a backend with
 * `oauth.grant = "token_exchange"` (RFC 8693: it is the `subject_token`). In
 * memory only, never written anywhere, dropped at its expiry; the newest
 * token of a name replaces the older one. A static token's name never has
 * one (static names cannot contain `:`), so its calls are never exchanged.
 */
export class SubjectTokens {
  readonly #byName = new Map<string, Held>();

  remember(name: string, token: string, until: number): void {
    const held = this.#byName.get(name);
    // A token that expires sooner than the one held does not replace it (two clients of one user).
    if (held !== undefined && held.token !== token && held.until > until && held.until > Date.now()) return;
    this.#byName.delete(name);
    this.#byName.set(name, { token, until });
    if (this.#byName.size > MAX_NAMES) this.#byName.delete(this.#byName.keys().next().value ?? '');
  }

  /** The live token of a name, with its expiry, if one is held. */
  get(name: string | undefined): Held | undefined {
    if (name === undefined) return undefined;
    const held = this.#byName.get(name);
    if (held === undefined) return undefined;
    if (held.until > Date.now()) return held;
    this.#byName.delete(name);
    return undefined;
  }
}
