import type { CallToolResult } from '@modelcontextprotocol/server';
import { CoordError } from './errors.js';
import type { CoordLogger } from './store.js';

/*
 * The one place where coordination outcomes become MCP tool results. Success:
 * the JSON as text (for models) and as structuredContent (for programs).
 * Refusal: isError with a text that starts with the stable code, the same
 * `{error, code, ...details}` object as REST in structuredContent, and
 * `_meta["stonegate/error"] = {code, field?}` so agents behind the gateway can
 * branch on it exactly as on the gateway's own errors (`field`: the one input
 * field to blame, when one is).
 */

/** A successful tool result carrying `value`. */
export function toolResult(value: object): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value as Record<string, unknown> };
}

/** A refusal as a tool result; unexpected errors become INTERNAL and are logged. */
export function toolError(error: unknown, logger: CoordLogger | undefined, tool: string): CallToolResult {
  const refusal =
    error instanceof CoordError
      ? error
      : new CoordError(
          'INTERNAL',
          `The coordination backend failed while running ${tool}: ${error instanceof Error ? error.message : String(error)}. Retry; report it if it persists.`,
        );
  if (!(error instanceof CoordError))
    logger?.error({ tool, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, 'coord tool failed');
  const body = refusal.toJSON();
  // The text names the field already; the other details (size, limit, current_version…) follow it as JSON.
  const { field: _field, ...shownDetails } = refusal.details ?? {};
  const details = Object.keys(shownDetails).length === 0 ? '' : `\n${JSON.stringify(shownDetails)}`;
  return {
    content: [{ type: 'text', text: `${refusal.code}: ${refusal.message}${details}` }],
    structuredContent: body,
    isError: true,
    _meta: { 'stonegate/error': refusal.field === undefined ? { code: refusal.code } : { code: refusal.code, field: refusal.field } },
  };
}

/** Runs a tool body and maps its outcome; never throws. */
export async function runTool(tool: string, logger: CoordLogger | undefined, body: () => Promise<object>): Promise<CallToolResult> {
  try {
    return toolResult(await body());
  } catch (error) {
    return toolError(error, logger, tool);
  }
}
