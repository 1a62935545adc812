import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

/*
 * REST and MCP clients of one gateway that keep every body and header they
 * saw in `seen`, so a test can check at the end that no secret ever came
 * back (security-auth's sentinel check).
 */

/** A REST answer: status, headers, and the body as JSON (`{text}` when it is not JSON). */
export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** What `call` may send: a bearer token, a body (JSON unless a string), extra headers. */
export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Recording clients of the gateway at `url()` (read at each request, so a gateway started later works). */
export function recordingClients(url: () => string) {
  const seen: string[] = [];
  const clients: Client[] = [];

  async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url()}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    });
    const text = await res.text();
    seen.push(text, JSON.stringify([...res.headers]));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    return { status: res.status, headers: res.headers, body };
  }

  /** An MCP client on `path` with `token`; closed by `closeClients`. */
  async function mcp(token: string, path = '/mcp'): Promise<Client> {
    const client = new Client({ name: 'security-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url()}${path}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    clients.push(client);
    return client;
  }

  /** The first text content of a tool result. */
  function text(result: unknown): string {
    seen.push(JSON.stringify(result));
    return ((result as CallToolResult).content[0] as { text: string }).text;
  }

  /** The gateway's error code of a tool result (`_meta["stonegate/error"].code`). */
  function errorCode(result: unknown): unknown {
    seen.push(JSON.stringify(result));
    return ((result as CallToolResult)._meta?.['stonegate/error'] as { code?: string } | undefined)?.code;
  }

  async function closeClients(): Promise<void> {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  }

  return { seen, call, mcp, text, errorCode, closeClients };
}
