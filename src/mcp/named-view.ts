import type { Identity } from '../auth/tokens.js';
import type { CatalogTool } from '../catalog/catalog.js';
import type { ViewConfig } from '../config/views-schema.js';
import { GatewayError } from '../errors.js';

/*
 * [[views]] (virtual servers) as a request sees them. A view filters the
 * catalog's tools (servers, include/exclude globs over exposed names) and
 * renames and re-describes some. It is enforced where a tool is looked up:
 * an excluded tool is unknown to tools/call (and so to its tasks), FORBIDDEN
 * to gate_call, gate_call_async and REST /call; a renamed tool answers to
 * its new name only. A view reads the config of the moment at each use
 * (compiled once per [[views]] entry object), so a reload that swaps the
 * config applies to open sessions too; a view a reload removed shows nothing.
 */

/** One [[views]] entry, compiled. */
export interface NamedView {
  readonly name: string;
  /** The backends the view names; undefined: every one the caller may see. */
  readonly servers: ReadonlySet<string> | undefined;
  readonly expose: 'all' | 'meta';
  /** Whether the view shows a catalog tool (its backend, include, exclude; not a name a rename took). */
  shows(tool: CatalogTool): boolean;
  /** The name the view gives a tool it shows. */
  nameOf(tool: CatalogTool): string;
  /** The description the view gives a tool. */
  descriptionOf(tool: CatalogTool): string;
  /** The exposed (catalog) name a tool name of the view means; undefined for a renamed tool's original name. */
  exposedOf(name: string): string | undefined;
}

/** A glob (`*`, `?`) as an anchored regular expression. */
function globRegex(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Compiles one [[views]] entry. */
export function compileView(config: ViewConfig): NamedView {
  const include = config.include.map(globRegex);
  const exclude = config.exclude.map(globRegex);
  // New name → exposed name, for every rename.
  const renamedTo = new Map<string, string>();
  for (const [exposed, override] of Object.entries(config.tools)) {
    if (override.name !== undefined && override.name !== exposed) renamedTo.set(override.name, exposed);
  }
  const servers = config.servers === undefined ? undefined : new Set(config.servers);
  const renamed = (exposed: string): boolean => {
    const name = config.tools[exposed]?.name;
    return name !== undefined && name !== exposed;
  };
  return {
    name: config.name,
    servers,
    expose: config.expose,
    shows: (tool) =>
      (servers === undefined || servers.has(tool.server)) &&
      include.some((r) => r.test(tool.exposed)) &&
      !exclude.some((r) => r.test(tool.exposed)) &&
      // A tool whose exposed name another tool's rename took is hidden in the view (docs/views.md).
      !renamedTo.has(tool.exposed),
    nameOf: (tool) => config.tools[tool.exposed]?.name ?? tool.exposed,
    descriptionOf: (tool) => config.tools[tool.exposed]?.description ?? tool.description,
    exposedOf: (name) => renamedTo.get(name) ?? (renamed(name) ? undefined : name),
  };
}

const compiled = new WeakMap<ViewConfig, NamedView>();

/** The view named `name` in whatever config `views` returns at each call: compiled once per entry; none: an empty view. */
function liveView(views: () => readonly ViewConfig[], name: string): NamedView {
  const removed: ViewConfig = { name, include: [], exclude: [], expose: 'all', tools: {}, servers: [] };
  const current = (): NamedView => {
    const config = views().find((v) => v.name === name) ?? removed;
    let view = compiled.get(config);
    if (view === undefined) {
      view = compileView(config);
      compiled.set(config, view);
    }
    return view;
  };
  return {
    name,
    get servers() {
      return current().servers;
    },
    get expose() {
      return current().expose;
    },
    shows: (tool) => current().shows(tool),
    nameOf: (tool) => current().nameOf(tool),
    descriptionOf: (tool) => current().descriptionOf(tool),
    exposedOf: (name) => current().exposedOf(name),
  };
}

/**
 * The view a request is served: the one it asks for (`?view=`, or the
 * /views/NAME/mcp path), or its token's. A token bound to a view gets that
 * view when it asks for none, and FORBIDDEN when it asks for another; an
 * unknown name is UNKNOWN_VIEW. Undefined: no view.
 */
export function selectView(views: () => readonly ViewConfig[], requested: string | undefined, identity: Identity | undefined): NamedView | undefined {
  const bound = identity?.view;
  if (bound !== undefined && requested !== undefined && requested !== bound) {
    throw new GatewayError('FORBIDDEN', `Token '${identity?.name ?? ''}' is bound to view '${bound}'; it may not use view '${requested}'`);
  }
  const name = requested ?? bound;
  if (name === undefined) return undefined;
  const known = views();
  if (!known.some((v) => v.name === name)) {
    throw new GatewayError('UNKNOWN_VIEW', `No view named '${name}'; the [[views]] of the config are: ${known.map((v) => v.name).join(', ') || 'none'}`);
  }
  return liveView(views, name);
}

/**
 * The catalog tool a gate_call's or REST call's backend and tool name mean
 * in a view: the backend's own name of a tool the view does not rename, or
 * the new name of a renamed one. A renamed tool's original name is
 * UNKNOWN_TOOL; a tool the view leaves out is FORBIDDEN.
 */
export function viewTarget(
  catalog: { resolve(server: string, tool: string): CatalogTool | undefined; tools(servers?: ReadonlySet<string>): CatalogTool[] },
  named: NamedView,
  server: string,
  tool: string,
): CatalogTool {
  let entry = catalog.resolve(server, tool);
  if (entry !== undefined && named.nameOf(entry) !== entry.exposed) entry = undefined;
  if (entry === undefined) {
    const exposed = named.exposedOf(tool);
    entry = exposed === undefined ? undefined : catalog.tools(new Set([server])).find((t) => t.exposed === exposed && named.nameOf(t) === tool);
  }
  if (entry === undefined) throw new GatewayError('UNKNOWN_TOOL', `Backend '${server}' has no tool '${tool}' in view '${named.name}'`);
  if (!named.shows(entry)) throw new GatewayError('FORBIDDEN', `View '${named.name}' does not include tool '${tool}' of backend '${server}'`);
  return entry;
}

/**
 * The catalog tool a tools/call name means for a view: on /mcp/{server} the
 * backend's own name, on /mcp the exposed name, in a named view the view's
 * name of a tool it shows. Undefined when there is none (the caller's
 * "Unknown tool").
 */
export function toolOf(
  catalog: { byExposed(name: string): CatalogTool | undefined; resolve(server: string, tool: string): CatalogTool | undefined },
  view: { single: string | undefined; named?: NamedView },
  name: string,
): CatalogTool | undefined {
  if (view.single !== undefined) return catalog.resolve(view.single, name);
  const named = view.named;
  if (named === undefined) return catalog.byExposed(name);
  const exposed = named.exposedOf(name);
  const entry = exposed === undefined ? undefined : catalog.byExposed(exposed);
  return entry !== undefined && named.shows(entry) ? entry : undefined;
}
