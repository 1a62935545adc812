import type { McpServer } from '@modelcontextprotocol/server';
import type { Hono } from 'hono';

/*
 * What a built-in backend declares to the gateway. This folder imports no
 * other folder of src/ (config imports a built-in's option schema from
 * here), so its types are structural: the composition root (gateway.ts)
 * hands in what they name.
 */

/** The logger a built-in writes to: pino's call shape. */
export interface BuiltinLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): BuiltinLogger;
}

/** What a built-in is mounted with: the gateway's data_dir and [store], its config section, a logger. */
export interface BuiltinContext<Options> {
  dataDir: string;
  store: { url: string; pool_size: number };
  options: Options;
  logger: BuiltinLogger;
}

/**
 * Who a request acts as, for the call guard and the REST guard: an agent
 * token acts only as itself in `fields`; the tools and routes in `selfOnly`
 * must name `selfField` (answered only for that agent), else the sentence
 * for the token `name` is the refusal.
 */
export interface ActingAsDeclaration {
  fields: readonly string[];
  selfField: string;
  /** The backend's tools this applies to: those starting with this prefix. */
  toolPrefix: string;
  /** Tool name or REST path → the refusal for a token named `name` that did not name itself. */
  selfOnly: Readonly<Record<string, (name: string, what: string) => string>>;
  /** The request variable (Hono context) the backend's routes read as the agent a token acts as. */
  viewerVariable?: string;
  /** Tool name or REST path → the identity field an agent token's name fills when the call leaves it out (who wrote a value, who made a channel). */
  fill?: Readonly<Record<string, string>>;
}

/** [coord-push] One thing to tell one agent (backends/coord/push-feed.ts PushNotice, structurally). */
export interface AgentNotice {
  readonly agent: string;
  readonly kind: string;
  readonly channel: string;
  readonly event_id: number;
  readonly from: string;
  readonly content: string;
  readonly meta: Readonly<Record<string, string>>;
  /** The resources (coord://…) whose view changed for `agent`. */
  readonly uris: readonly string[];
  readonly at: string;
}

/** [coord-push] What a built-in pushes to agents' MCP sessions, and the resources those read (docs/coordination.md#push). */
export interface AgentPush {
  /** The URI scheme of its resources (`coord://`). */
  readonly scheme: string;
  listen(listener: (notices: readonly AgentNotice[]) => void): () => void;
  inbox(agent: string): Promise<Record<string, unknown>>;
  thread(threadId: string, agent: string): Promise<Record<string, unknown>>;
}

/** A built-in backend once mounted: one MCP server per pooled connection over one store. */
export interface BuiltinMount {
  /** A fresh MCP server for one connection. */
  server(): McpServer;
  /** REST routes under /<name>, if it has any. */
  routes?: Hono;
  /** Its long-lived event streams, as paths under /<name>: each holds a stream slot of its client (client-slots.ts). */
  streams?: readonly string[];
  /** Its health probes (`/livez`, `/readyz`), as paths under /<name>: they need no token, Host/Origin still apply. */
  probes?: readonly string[];
  /** Opens what opens asynchronously (a PostgreSQL store); a failure fails the start. */
  ready(): Promise<unknown>;
  /**
   * Counts a call of an agent token to this backend (a tool or a route) as
   * that agent's activity, whatever the call names; never rejects. Admin
   * tokens act for others, so their calls are not counted.
   */
  activity?(agent: string): Promise<void>;
  /** [coord-push] Notices for agents' sessions (coord://inbox, coord://threads, claude/channel). */
  push?: AgentPush;
  /** The store's own health, for GET /health. */
  health?(): Promise<{ store: string; problem?: string }>;
  /** Ends long polls and streams and closes the store. Idempotent. */
  close(): Promise<void>;
}

/** A backend that runs in the gateway's process; registered in registry.ts. */
export interface BuiltinBackend<Options = unknown> {
  /** Its backend name (reserved: a configured backend may not take it). */
  readonly name: string;
  /** How errors name it: 'the built-in coordination backend'. */
  readonly title: string;
  /**
   * Its [section] of the config, with `enabled`: mounted, with the entry
   * below, only when enabled. Without one it takes no options and is
   * mounted when a [[backends]] entry names it with transport = "builtin".
   */
  readonly section?: string;
  /** Its [[backends]] entry fields besides name and transport ('builtin'), for a built-in with a section. */
  entry?(options: Options): Record<string, unknown>;
  /**
   * [speed] Imports what mount() needs. A gateway whose config leaves the
   * built-in out never imports its server, routes or store:
   * loadBuiltins(config) (src/gateway/builtins-wanted.ts) awaits this for
   * the built-ins a config mounts, before the Gateway is built.
   */
  load?(): Promise<void>;
  mount(context: BuiltinContext<Options>): BuiltinMount;
  /** How its calls and routes name the agent they act as, if they do. */
  readonly identity?: ActingAsDeclaration;
  /**
   * True when its tools check their own arguments (one schema per tool, the
   * same refusal as its REST routes): the router then leaves them unchecked.
   */
  readonly checksArguments?: boolean;
}
