/**
 * A raw 2026-07-28 `subscriptions/listen` POST on a gateway's /mcp, as a
 * client without the SDK sends it: the standard headers and an envelope
 * with no client capabilities. The caller reads the answer (a refusal's
 * JSON, or the SSE stream) and aborts it with `abort`.
 */
export async function postListen(url: string, notifications: Record<string, unknown>, client = 'raw'): Promise<{ response: Response; abort: () => void }> {
  const V = '2026-07-28';
  const controller = new AbortController();
  const response = await fetch(`${url}/mcp`, {
    method: 'POST',
    signal: controller.signal,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V,
      'mcp-method': 'subscriptions/listen',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'subscriptions/listen',
      params: {
        notifications,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          'io.modelcontextprotocol/clientInfo': { name: client, version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  });
  return { response, abort: () => controller.abort() };
}
