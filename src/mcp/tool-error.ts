import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayError } from '../errors.js';

/**
 * The MCP form of a gateway failure on a known tool: a tool result with
 * isError, text starting with the code, and the code in
 * `_meta["stonegate/error"]` so agents can branch on it. The one place
 * where MCP errors are made (unknown tools are JSON-RPC -32602, raised by
 * the session server).
 */
export function toolError(error: GatewayError): CallToolResult {
  const meta: Record<string, unknown> = { code: error.code };
  if (error.retryAfter !== undefined) meta.retry_after = error.retryAfter;
  return {
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    isError: true,
    _meta: { 'stonegate/error': meta },
  };
}
