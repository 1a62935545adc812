import { z } from 'zod';

/*
 * [[views]]: named views (virtual servers). A view is a subset of the
 * gateway's tools — by backend, by include/exclude globs over the exposed
 * names (`<server>__<tool>`) — with per-tool renames and descriptions.
 * Served at /mcp?view=NAME and /views/NAME/mcp; a token may be bound to one
 * ([[auth.tokens]] view, or [auth.oauth] view_claim). See docs/views.md.
 */

/** A view's name, and a renamed tool's: what MCP allows in a tool name, up to 64 characters. */
export const VIEW_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A glob over exposed names: name characters plus `*` (any run) and `?` (one character). */
export const VIEW_GLOB = /^[A-Za-z0-9_.*?-]+$/;

// Names and globs are checked in checkViews, whose messages name the view.
export const ViewToolSchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
});

export const ViewSchema = z.strictObject({
  name: z.string(),
  servers: z.array(z.string().min(1)).optional(),
  include: z.array(z.string()).default(['*']),
  exclude: z.array(z.string()).default([]),
  expose: z.enum(['all', 'meta']).default('all'),
  tools: z.record(z.string(), ViewToolSchema).default({}),
});

export const ViewsSchema = z.array(ViewSchema).default([]);

export type ViewConfig = z.infer<typeof ViewSchema>;

/** The gate tools' names: a rename may not take one. */
const GATE_NAMES = new Set(['gate_call', 'gate_discover', 'gate_status', 'gate_call_async', 'gate_poll', 'gate_await', 'gate_cancel']);

interface Issues {
  addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void;
}

/**
 * The checks of [[views]] against the rest of the file: unique names, known
 * backends (`backends` or a built-in), renames unique within the view (not
 * another rename, another overridden tool's name, nor a gate tool), and
 * tokens bound to a view that exists. Each issue names the view and the key.
 */
export function checkViews(
  c: { views: readonly ViewConfig[]; backends: readonly { name: string }[]; auth: { tokens: readonly { view?: string | undefined }[] } },
  builtins: ReadonlySet<string>,
  ctx: Issues,
): void {
  const backends = new Set([...c.backends.map((b) => b.name), ...builtins]);
  const names = new Set<string>();
  c.views.forEach((v, i) => {
    if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['views', i, 'name'], message: `duplicate view name '${v.name}'` });
    names.add(v.name);
    if (!VIEW_NAME.test(v.name)) {
      ctx.addIssue({ code: 'custom', path: ['views', i, 'name'], message: `view '${v.name}': a view name of 1 to 64 characters from [A-Za-z0-9_-]` });
    }
    for (const key of ['include', 'exclude'] as const) {
      v[key].forEach((g, j) => {
        if (!VIEW_GLOB.test(g)) {
          ctx.addIssue({
            code: 'custom',
            path: ['views', i, key, j],
            message: `view '${v.name}': invalid glob '${g}': use [A-Za-z0-9_.-] with * (any run) and ? (one character)`,
          });
        }
      });
    }
    (v.servers ?? []).forEach((s, j) => {
      if (!backends.has(s)) ctx.addIssue({ code: 'custom', path: ['views', i, 'servers', j], message: `view '${v.name}': unknown backend '${s}'` });
    });
    const taken = new Map<string, string>();
    for (const [original, override] of Object.entries(v.tools)) {
      const name = override.name ?? original;
      const path = ['views', i, 'tools', original, 'name'];
      const other = taken.get(name);
      if (!VIEW_NAME.test(name))
        ctx.addIssue({ code: 'custom', path, message: `view '${v.name}': '${name}' is no tool name: 1 to 64 characters from [A-Za-z0-9_-]` });
      else if (GATE_NAMES.has(name)) ctx.addIssue({ code: 'custom', path, message: `view '${v.name}': '${name}' is a gateway tool's name` });
      else if (other !== undefined) ctx.addIssue({ code: 'custom', path, message: `view '${v.name}': '${name}' is also the name of '${other}'` });
      taken.set(name, original);
    }
  });
  c.auth.tokens.forEach((t, i) => {
    if (t.view !== undefined && !names.has(t.view)) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'tokens', i, 'view'], message: `no [[views]] entry is named '${t.view}'` });
    }
  });
}
