/**
 * A JSON-RPC error for the SDK's Protocol to send as is. The SDK's McpError
 * prefixes its message with "MCP error <code>:", and the client's McpError
 * prefixes it again; a plain Error with a numeric `code` goes out unchanged.
 */
export function rpcFailure(code: number, message: string, data?: unknown): Error & { code: number; data?: unknown } {
  return Object.assign(new Error(message), { code, data });
}
