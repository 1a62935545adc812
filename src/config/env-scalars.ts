import { ConfigSchema } from './schema.js';

/** A string that is one environment reference and nothing else: `"${PORT}"`, `"${WORKERS:-4}"`. */
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;
const NUMBER = /^-?\d+(?:\.\d+)?$/;

/**
 * TOML has no way to write a number that comes from the environment, so a
 * key the schema wants as a number or a boolean may be given as a string
 * that is only an environment reference (`port = "${PORT}"`): its
 * interpolated text is then read as that type ("8080" → 8080, "true" →
 * true). Anything else is left alone, and validation names the key as
 * before; a string key never changes type, whatever its variable holds.
 * `raw` is the file as parsed, `interpolated` the same with the variables in.
 */
export function typedEnvReferences(raw: unknown, interpolated: unknown): unknown {
  const result = ConfigSchema.safeParse(interpolated);
  if (result.success) return interpolated;
  let typed: unknown;
  for (const issue of result.error.issues) {
    if (issue.code !== 'invalid_type' || (issue.expected !== 'number' && issue.expected !== 'boolean')) continue;
    const written = valueAt(raw, issue.path);
    const text = valueAt(interpolated, issue.path);
    if (typeof written !== 'string' || !WHOLE_REFERENCE.test(written) || typeof text !== 'string') continue;
    const value =
      issue.expected === 'number' ? (NUMBER.test(text.trim()) ? Number(text) : undefined) : text === 'true' ? true : text === 'false' ? false : undefined;
    if (value === undefined) continue;
    typed ??= structuredClone(interpolated);
    setAt(typed, issue.path, value);
  }
  return typed ?? interpolated;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function setAt(root: unknown, path: readonly PropertyKey[], value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1)) as Record<PropertyKey, unknown>;
  parent[path[path.length - 1] as PropertyKey] = value;
}
