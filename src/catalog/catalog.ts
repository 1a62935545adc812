import { EventEmitter } from 'node:events';
import type { Client, Implementation, ServerCapabilities, Tool } from '@modelcontextprotocol/client';
import type { Logger } from '../log.js';
import { buildIndex, type SearchIndex, tokenize } from './discover.js';
import { type FingerprintStore, MemoryFingerprintStore } from './fingerprints.js';
import { exposedName, fingerprint } from './naming.js';
import { WordIndex } from './word-index.js';

/** One backend tool as the gateway knows it. */
export interface CatalogTool {
  server: string;
  /** The backend's own name for the tool. */
  name: string;
  /** The name agents see on /mcp: `<server><sep><name>`, shortened when needed. */
  exposed: string;
  description: string;
  inputSchema: Tool['inputSchema'];
  /** The full definition from the backend (annotations, outputSchema, _meta, title). */
  definition: Tool;
  fingerprint: string;
  index: SearchIndex;
}

/** A tool whose description or schema changed after the gateway first saw it (or after its last approval). */
export interface ToolChange {
  tool: string;
  from: string;
  to: string;
  at: string;
  /** The tool's current definition is this change and no admin approved it yet. */
  pending: boolean;
  /** Pending while [gateway] pin_tools is on: the tool is withheld from agents until POST /server/approve. */
  held: boolean;
}

/** What a backend said of itself at initialize, for per-server endpoints that mirror it. */
export interface BackendMeta {
  capabilities: ServerCapabilities;
  serverInfo: Implementation | undefined;
  instructions: string | undefined;
}

/** A backend's first listing: its tools and what it said at initialize. */
export interface BackendListing {
  tools: Tool[];
  meta: BackendMeta;
}

/** Lists a fresh connection's tools (each page within `timeoutMs`: the backend's start_timeout) and reads its initialize answer. */
export async function describeBackend(client: Client, timeoutMs: number): Promise<BackendListing> {
  const capabilities = client.getServerCapabilities() ?? {};
  const tools = capabilities.tools === undefined ? [] : await listAllTools(client, timeoutMs);
  return { tools, meta: { capabilities, serverInfo: client.getServerVersion(), instructions: client.getInstructions() } };
}

/** A discover hit: the tool and its score. */
export interface Ranked {
  tool: CatalogTool;
  score: number;
}

/** A discover answer: the best tools, and how many matched before the limit. */
export interface Discovery {
  ranked: Ranked[];
  matched: number;
}

/** What a backend lists: tools (catalogued), prompts and resources (proxied). */
export type ListingKind = 'tools' | 'prompts' | 'resources';

interface Listing {
  tools: Map<string, CatalogTool>;
  fetchedAt: number;
}

export interface CatalogOptions {
  separator: string;
  /** Seconds a listing is trusted before it is refreshed in the background. */
  ttlSeconds: number;
  logger: Logger;
  /** [gateway] pin_tools: a tool whose definition changed since its approval is withheld from agents. */
  pin?: boolean;
}

/** How many tools/list pages a backend may return before we stop following nextCursor. */
const MAX_PAGES = 1_000;

/**
 * Lists every tool of a backend, following nextCursor. Each page must come
 * within `timeoutMs` (not the SDK's default of 60 s), so a backend that
 * answers initialize but hangs on tools/list fails its start, or its
 * refresh, in the time the operator configured.
 */
export async function listAllTools(client: Client, timeoutMs: number): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    // request() rather than listTools(): the latter also compiles output
    // validators for the client's own callTool, which the gateway never uses.
    const result = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, { timeout: timeoutMs });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (cursor === undefined || cursor === '') break;
  }
  return tools;
}

/**
 * The tools of every backend, by backend and by exposed name. Listings are
 * replaced whole on refresh; `changed` is emitted whenever the set of tools
 * an agent can see may have changed. Fingerprints of first sight are kept
 * so a backend that rewrites a tool's description later is noticed.
 */
export class Catalog extends EventEmitter {
  readonly #listings = new Map<string, Listing>();
  readonly #byExposed = new Map<string, CatalogTool>();
  /** Every listed tool's words, for discover. */
  readonly #words = new WordIndex<CatalogTool>();
  #fingerprints: FingerprintStore = new MemoryFingerprintStore();
  /** Per backend, tools whose current definition is not the approved one. */
  readonly #unapproved = new Map<string, Set<string>>();
  readonly #meta = new Map<string, BackendMeta>();
  /** Per backend, when its prompts and resources were last known current (initialize, or their list_changed). */
  readonly #relisted = new Map<string, Record<'prompts' | 'resources', number>>();
  readonly #options: CatalogOptions;

  constructor(options: CatalogOptions) {
    super();
    this.#options = options;
  }

  /**
   * Keeps fingerprints in `store` (data_dir, or the shared database) from now
   * on; set before backends start. A shared store's changes (an approval on
   * another gateway) re-judge that backend's listed tools here.
   */
  useFingerprints(store: FingerprintStore): void {
    this.#fingerprints = store;
    store.onChange?.((server) => this.#rejudge(server));
  }

  /** Remembers what a backend said at initialize. */
  setMeta(server: string, meta: BackendMeta): void {
    this.#meta.set(server, meta);
    const now = Date.now();
    this.#relisted.set(server, { prompts: now, resources: now });
  }

  /** A backend said its prompts or resources changed: agents listing them now get the fresh list. */
  relisted(server: string, kind: 'prompts' | 'resources'): void {
    const stamps = this.#relisted.get(server);
    if (stamps !== undefined) stamps[kind] = Date.now();
  }

  /**
   * When a backend's tools were listed, or its prompts or resources last
   * known current (epoch ms); undefined for a backend not listed. Cache
   * hints for 2026-07-28 clients count down from it.
   */
  listedAt(server: string, kind: ListingKind): number | undefined {
    return kind === 'tools' ? this.#listings.get(server)?.fetchedAt : this.#relisted.get(server)?.[kind];
  }

  /** The backends with a listing, by name. */
  servers(): string[] {
    return [...this.#listings.keys()].sort();
  }

  meta(server: string): BackendMeta | undefined {
    return this.#meta.get(server);
  }

  /**
   * Replaces a backend's listing with freshly fetched tools; emits `changed`
   * when they differ, or always with `changed: true` (a restarted backend:
   * agents re-list rather than trust tools from a process that is gone).
   */
  set(server: string, tools: readonly Tool[], options: { changed?: boolean } = {}): void {
    this.#removeExposed(server);
    const map = new Map<string, CatalogTool>();
    const unapproved = new Set<string>();
    // One transaction for the listing's fingerprints, not one per tool.
    this.#fingerprints.batch(() => {
      for (const definition of tools) this.#enter(server, definition, map, unapproved);
    });
    const previous = this.#listings.get(server);
    this.#listings.set(server, { tools: map, fetchedAt: Date.now() });
    this.#unapproved.set(server, unapproved);
    // A refresh that found the same tools is not news for the sessions.
    if (options.changed === true || previous === undefined || !sameTools(previous.tools, map)) this.emit('changed', server);
  }

  /** Adds one tool of a listing: its entry, fingerprint check, name and words. */
  #enter(server: string, definition: Tool, map: Map<string, CatalogTool>, unapproved: Set<string>): void {
    const exposed = exposedName(server, definition.name, this.#options.separator);
    const entry: CatalogTool = {
      server,
      name: definition.name,
      exposed,
      description: definition.description ?? '',
      inputSchema: definition.inputSchema,
      definition,
      fingerprint: fingerprint(definition),
      index: buildIndex({ name: definition.name, exposed, description: definition.description, inputSchema: definition.inputSchema }),
    };
    if (!this.#track(entry)) unapproved.add(entry.name);
    map.set(definition.name, entry);
    this.#byExposed.set(exposed, entry);
    this.#words.add(entry);
  }

  /** Forgets a backend's tools (stopped, failed or removed). */
  drop(server: string): void {
    if (!this.#listings.has(server)) return;
    this.#removeExposed(server);
    this.#listings.delete(server);
    this.#meta.delete(server);
    this.#relisted.delete(server);
    this.#unapproved.delete(server);
    this.emit('changed', server);
  }

  /** Whether the backend's listing is older than schema_cache_ttl (or missing). */
  isStale(server: string): boolean {
    const listing = this.#listings.get(server);
    return listing === undefined || Date.now() - listing.fetchedAt > this.#options.ttlSeconds * 1000;
  }

  has(server: string): boolean {
    return this.#listings.has(server);
  }

  resolve(server: string, tool: string): CatalogTool | undefined {
    return this.#listings.get(server)?.tools.get(tool);
  }

  byExposed(name: string): CatalogTool | undefined {
    return this.#byExposed.get(name);
  }

  /**
   * Tools of every backend, or of the backends `servers` allows, by backend
   * name, then in the backend's order. Tools withheld by pin_tools are left
   * out: this is what agents are shown.
   */
  tools(servers?: ReadonlySet<string>): CatalogTool[] {
    const out: CatalogTool[] = [];
    for (const [server, listing] of [...this.#listings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (servers !== undefined && !servers.has(server)) continue;
      for (const tool of listing.tools.values()) if (!this.isHeld(server, tool.name)) out.push(tool);
    }
    return out;
  }

  /** Whether pin_tools withholds the tool: its definition changed since it was approved. */
  isHeld(server: string, tool: string): boolean {
    return this.#options.pin === true && this.#unapproved.get(server)?.has(tool) === true;
  }

  /**
   * Approves the current definition of one tool, or of every tool, of a
   * backend (POST /server/approve); withheld tools come back to agents once
   * the approval is stored. Returns the tools approved with their fingerprints.
   */
  async approve(server: string, tool?: string): Promise<{ tool: string; fingerprint: string }[]> {
    const records = this.#fingerprints.list(server).filter((r) => tool === undefined || r.tool === tool);
    const approved: { tool: string; fingerprint: string }[] = [];
    const writes: Promise<void>[] = [];
    for (const record of records) {
      const current = this.resolve(server, record.tool)?.fingerprint ?? record.fingerprint;
      if (record.approved_fingerprint !== current || record.fingerprint !== current) {
        writes.push(this.#fingerprints.approve(server, record.tool, current));
        this.#options.logger.info({ backend: server, tool: record.tool, fingerprint: current }, 'tool definition approved');
      }
      approved.push({ tool: record.tool, fingerprint: current });
    }
    await Promise.all(writes);
    this.#rejudge(server);
    return approved;
  }

  /**
   * Re-reads which of a backend's listed tools are approved (after an
   * approval, here or on another gateway on a shared store); agents re-list
   * only when pin_tools withholds or releases a tool by it.
   */
  #rejudge(server: string): void {
    const listing = this.#listings.get(server);
    if (listing === undefined) return;
    const before = this.#unapproved.get(server) ?? new Set<string>();
    const unapproved = new Set<string>();
    for (const t of listing.tools.values()) if (this.#fingerprints.get(server, t.name)?.approved_fingerprint !== t.fingerprint) unapproved.add(t.name);
    this.#unapproved.set(server, unapproved);
    const same = before.size === unapproved.size && [...before].every((name) => unapproved.has(name));
    if (!same && this.#options.pin === true) this.emit('changed', server);
  }

  toolCount(server: string): number {
    return this.#listings.get(server)?.tools.size ?? 0;
  }

  /** The last 50 definition changes of a backend's tools, oldest first, with whether each is pending (and held). */
  changes(server: string): readonly ToolChange[] {
    const current = new Map(this.#fingerprints.list(server).map((r) => [r.tool, r]));
    return this.#fingerprints.changes(server, 50).map((c) => {
      const record = current.get(c.tool);
      const pending = record !== undefined && record.fingerprint === c.to && record.approved_fingerprint !== c.to;
      return { ...c, pending, held: pending && this.#options.pin === true };
    });
  }

  /** Ranked keyword search over the tools agents are shown; see discover.ts for the weights, word-index.ts for how. */
  discover(query: string, options: { servers?: ReadonlySet<string>; limit?: number; accept?: (tool: CatalogTool) => boolean } = {}): Discovery {
    // accept: a further filter (a named view's tools).
    const { servers, accept } = options;
    // [speed] No filter when nothing filters (every backend, no view, pin_tools off): the search then reads only the entries it ranks (word-index.ts).
    const filtered = servers !== undefined || accept !== undefined || this.#options.pin === true;
    const { hits, matched } = this.#words.search(
      tokenize(query),
      query,
      options.limit ?? 20,
      filtered
        ? (tool) => (servers === undefined || servers.has(tool.server)) && (accept === undefined || accept(tool)) && !this.isHeld(tool.server, tool.name)
        : undefined,
    );
    return { ranked: hits.map((hit) => ({ tool: hit.item, score: hit.score })), matched };
  }

  /**
   * Compares a tool with what was seen and approved before (trust on first
   * sight); records and logs a change once. Returns whether the tool's
   * definition is the approved one.
   */
  #track(entry: CatalogTool): boolean {
    const store = this.#fingerprints;
    const record = store.get(entry.server, entry.name);
    const now = new Date().toISOString();
    if (record === undefined) {
      return store.firstSight({
        server: entry.server,
        tool: entry.name,
        fingerprint: entry.fingerprint,
        first_seen: now,
        approved_fingerprint: entry.fingerprint,
      });
    }
    const lastSeen = record.fingerprint;
    if (lastSeen !== entry.fingerprint) store.seen(entry.server, entry.name, entry.fingerprint);
    if (record.approved_fingerprint === entry.fingerprint) return true;
    if (lastSeen !== entry.fingerprint || !store.changes(entry.server, 50).some((c) => c.tool === entry.name && c.to === entry.fingerprint)) {
      store.addChange(entry.server, { tool: entry.name, from: record.approved_fingerprint, to: entry.fingerprint, at: now });
      this.#options.logger.warn(
        { backend: entry.server, tool: entry.name, from: record.approved_fingerprint, to: entry.fingerprint, held: this.#options.pin === true },
        this.#options.pin === true
          ? 'tool definition changed since approved; withheld from agents until POST /server/approve'
          : 'tool definition changed since first seen',
      );
    }
    return false;
  }

  #removeExposed(server: string): void {
    const listing = this.#listings.get(server);
    if (listing === undefined) return;
    for (const tool of listing.tools.values()) {
      this.#byExposed.delete(tool.exposed);
      this.#words.remove(tool);
    }
  }
}

function sameTools(a: ReadonlyMap<string, CatalogTool>, b: ReadonlyMap<string, CatalogTool>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, tool] of a) {
    if (b.get(name)?.fingerprint !== tool.fingerprint) return false;
  }
  return true;
}
