/*
 * `Mcp-Param-{Name}` headers of a 2026-07-28 tools/call (streamable-http
 * §Custom Headers from Tool Parameters): a tool whose inputSchema marks a
 * property with `x-mcp-header` has its value mirrored into that header, and
 * a server that reads the body must refuse a call whose header is missing
 * or says something else (400, -32020). The SDK checks this only for its
 * own McpServer tools; the gateway's tools are the backends', so it is done
 * here, over the catalog's inputSchema.
 */

/** One `x-mcp-header` declaration: the property path from the arguments' root, the header's name part, the declared type. */
export interface ParamHeader {
  path: string[];
  name: string;
  type: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean', 'number']);

/**
 * The declarations of a schema, found along chains of `properties` keys
 * only (the spec's static reachability). A declaration that breaks the
 * spec's rules (not a header token, not a primitive type, a name used twice)
 * makes the tool invalid for clients, which then never call it: nothing is
 * checked for it (empty list), as the SDK does.
 */
export function paramHeaders(schema: unknown): ParamHeader[] {
  if (schema === null || typeof schema !== 'object') return [];
  let found = scanned.get(schema);
  if (found === undefined) {
    found = scan(schema);
    scanned.set(schema, found);
  }
  return found;
}

/** Declarations per schema object: the catalog replaces a tool's schema when the backend lists again, so this never goes stale. */
const scanned = new WeakMap<object, ParamHeader[]>();

function scan(schema: object): ParamHeader[] {
  const found: ParamHeader[] = [];
  const seen = new Set<string>();
  let valid = true;
  const visit = (node: unknown, path: string[]): void => {
    if (node === null || typeof node !== 'object') return;
    const { properties, type, 'x-mcp-header': name } = node as Record<string, unknown>;
    if (name !== undefined && path.length > 0) {
      const ok = typeof name === 'string' && TOKEN.test(name) && typeof type === 'string' && PRIMITIVE.has(type) && !seen.has(name.toLowerCase());
      if (!ok) valid = false;
      else {
        seen.add(name.toLowerCase());
        found.push({ path, name, type });
      }
    }
    if (properties !== null && typeof properties === 'object') for (const [key, child] of Object.entries(properties)) visit(child, [...path, key]);
  };
  visit(schema, []);
  return valid ? found : [];
}

const SENTINEL = /^=\?base64\?(.*)\?=$/s;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/** A header value as text: plain (visible ASCII, space, tab), or the UTF-8 inside `=?base64?…?=`; undefined for anything else. */
function decoded(value: string): string | undefined {
  const b64 = SENTINEL.exec(value)?.[1];
  if (b64 === undefined) return /^[\t\x20-\x7e]*$/.test(value) ? value : undefined;
  if (!BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a call's `Mcp-Param-*` headers, or undefined when they
 * match its arguments. A value that is absent or null needs no header (one
 * sent anyway is not looked at); integers and numbers compare as numbers
 * (`42.0` is `42`), everything else as the decoded text.
 */
export function paramHeaderMismatch(declared: ParamHeader[], args: unknown, headers: Headers): string | undefined {
  for (const { path, name, type } of declared) {
    let value: unknown = args;
    for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (value === undefined || value === null || !['string', 'number', 'boolean'].includes(typeof value)) continue;
    const header = `Mcp-Param-${name}`;
    const raw = headers.get(header);
    if (raw === null) return `the body carries ${path.join('.')}=${JSON.stringify(value)} but the ${header} header is absent`;
    const text = decoded(raw);
    if (text === undefined) return `the ${header} header is neither plain ASCII nor a valid =?base64?…?= value`;
    const numeric = (type === 'integer' || type === 'number') && typeof value === 'number' && DECIMAL.test(text);
    if (numeric ? Number(text) !== value : text !== String(value)) {
      return `the ${header} header decodes to ${JSON.stringify(text)} but the body carries ${path.join('.')}=${JSON.stringify(value)}`;
    }
  }
  return undefined;
}

/** A header value as a 2026-07-28 client sends it: plain when it is safe visible ASCII, else `=?base64?…?=` of its UTF-8 (an empty or padded value, or one that looks like a sentinel, included). */
function encoded(text: string): string {
  const plain = text.length > 0 && text === text.trim() && /^[\t\x20-\x7e]*$/.test(text) && !SENTINEL.test(text);
  return plain ? text : `=?base64?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/**
 * [mcp-ext] The `Mcp-Param-*` headers of a tools/call toward a 2026-07-28
 * backend (streamable-http §Custom Headers from Tool Parameters: a client
 * MUST mirror the values its tool's inputSchema marks with `x-mcp-header`,
 * and the backend refuses the call without them). The gateway is that
 * client for every caller (2025 sessions, REST, async calls too), so the
 * headers come from the arguments it sends, as the MCP SDK client builds
 * them: a value that is absent, null or not a primitive gets no header.
 * Undefined when the tool declares none. Stdio transports ignore headers.
 */
export function mirroredParamHeaders(schema: unknown, args: unknown): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  for (const { path, name } of paramHeaders(schema)) {
    let value: unknown = args;
    for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof value === 'string') headers[`Mcp-Param-${name}`] = encoded(value);
    else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))))
      headers[`Mcp-Param-${name}`] = encoded(String(value));
  }
  return Object.keys(headers).length === 0 ? undefined : headers;
}
