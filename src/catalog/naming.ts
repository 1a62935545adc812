import { createHash } from 'node:crypto';

/** Longest tool name MCP clients accept (several clients cut or refuse longer ones). */
export const MAX_TOOL_NAME = 64;
const VALID = /^[A-Za-z0-9_-]+$/;
const INVALID_CHARS = /[^A-Za-z0-9_-]/g;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * The name an agent sees for a backend's tool: `<server><sep><tool>`.
 *
 * Deterministic and collision-free without looking at other tools: a name
 * that is already valid, short enough and unambiguous is used as is; any
 * other (characters replaced, cut to 64, or a separator inside the server
 * name) carries an 8-hex hash of the
 * original pair, so two different tools never map to the same name and the
 * same tool maps to the same name after every restart.
 */
export function exposedName(server: string, tool: string, separator: string): string {
  const plain = `${server}${separator}${tool}`;
  // Plain only when the separator's first occurrence is the one we put
  // there: otherwise ('a__b', 'c') and ('a', 'b__c') would meet.
  if (plain.length <= MAX_TOOL_NAME && VALID.test(plain) && plain.indexOf(separator) === server.length) return plain;
  const suffix = `_${shortHash(`${server}\u0000${tool}`)}`;
  const cleaned = plain.replace(INVALID_CHARS, '_');
  return `${cleaned.slice(0, MAX_TOOL_NAME - suffix.length)}${suffix}`;
}

/** A stable fingerprint of what an agent is told about a tool (description and schemas). */
export function fingerprint(tool: { description?: string; inputSchema?: unknown; outputSchema?: unknown; annotations?: unknown }): string {
  return createHash('sha256')
    .update(stableJson({ d: tool.description ?? '', i: tool.inputSchema ?? null, o: tool.outputSchema ?? null, a: tool.annotations ?? null }))
    .digest('hex')
    .slice(0, 16);
}

/** JSON with sorted object keys, so equal schemas hash equally whatever their key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
