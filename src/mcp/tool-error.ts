import type { CallToolResult } from '@modelcontextprotocol/server';
import { scrubError } from '../config/redact.js';
import type { GatewayError } from '../errors.js';

/**
 * The MCP form of a gateway failure on a known tool: a tool result with
 * isError, text starting with the code, and the code in
 * `_meta["stonegate/error"]` so agents can branch on it. The one place
 * where MCP errors are made (unknown tools are JSON-RPC -32602, raised by
 * the session server).
 */
export function toolError(raw: GatewayError, secrets: readonly string[] = []): CallToolResult {
  // Messages can quote a backend's stderr or a remote's answer: no secret of the gateway's goes out in them.
  const error = scrubError(raw, secrets);
  const meta: Record<string, unknown> = { code: error.code };
  if (error.retryAfter !== undefined) meta.retry_after = error.retryAfter;
  return {
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    isError: true,
    _meta: { 'stonegate/error': meta },
  };
}
