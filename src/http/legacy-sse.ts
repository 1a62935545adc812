import { randomUUID } from 'node:crypto';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { Hono } from 'hono';
import { GatewayError } from '../errors.js';
import { createSessionServer, type SessionServerSources } from '../mcp/session-server.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { viewFrom } from '../mcp/view.js';
import { capClient } from './client-slots.js';
import { role } from './route-role.js';

/** What this module reads and calls of the gateway. */
export type LegacySseSources = SessionServerSources & Pick<GatewaySurface, 'onStop'>;

const encoder = new TextEncoder();
const KEEPALIVE_MS = 15_000;

/**
 * The HTTP+SSE transport of protocol 2024-11-05, web-standard: the GET
 * stream carries every server message; the client POSTs its messages to the
 * endpoint announced in the first event.
 */
class SseTransport implements Transport {
  readonly sessionId = randomUUID();
  readonly stream: ReadableStream<Uint8Array>;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(endpoint: string) {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        controller.enqueue(encoder.encode(`event: endpoint\ndata: ${endpoint}?sessionId=${this.sessionId}\n\n`));
      },
      cancel: () => void this.close(),
    });
    this.#keepalive = setInterval(() => this.#write(': keepalive\n\n'), KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('SSE stream closed');
    this.#write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    try {
      this.#controller?.close();
    } catch {
      // already closed by the client
    }
    this.onclose?.();
  }

  #write(text: string): void {
    try {
      this.#controller?.enqueue(encoder.encode(text));
    } catch {
      void this.close();
    }
  }
}

/** GET /sse opens a session; POST /messages?sessionId= carries the client's messages. */
export function legacySseRoutes(gateway: LegacySseSources): Hono {
  const app = new Hono();
  const transports = new Map<string, { transport: SseTransport; owner: string | undefined }>();
  gateway.onStop(async () => {
    await Promise.all([...transports.values()].map((t) => t.transport.close()));
  });

  app.get('/sse', role('agent'), async (c) => {
    // A legacy session is a session (and its stream): it takes a session slot of its client's.
    const release = gateway.security.caps.acquire('session', capClient(c));
    const identity = c.get('identity');
    const view = viewFrom(new URL(c.req.url).searchParams, { expose: gateway.config.gateway.expose, views: () => gateway.config.views }, undefined, identity);
    const transport = new SseTransport('/messages');
    const server = createSessionServer(gateway, view);
    transports.set(transport.sessionId, { transport, owner: identity?.name });
    gateway.sessions.add(server, view);
    transport.onclose = () => {
      release();
      transports.delete(transport.sessionId);
      gateway.sessions.remove(server);
    };
    await server.connect(transport);
    return new Response(transport.stream, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' },
    });
  });

  app.post('/messages', role('agent'), async (c) => {
    const id = c.req.query('sessionId') ?? '';
    const session = transports.get(id);
    if (session === undefined) throw new GatewayError('UNKNOWN_ROUTE', `No SSE session '${id.slice(0, 100)}'; open one with GET /sse`);
    if (session.owner !== c.get('identity')?.name) throw new GatewayError('FORBIDDEN', 'This SSE session was opened with another token');
    const { transport } = session;
    let message: unknown;
    try {
      message = JSON.parse(await c.req.text());
    } catch (err) {
      throw new GatewayError('BAD_REQUEST', `The message is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof message !== 'object' || message === null || (message as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      throw new GatewayError('BAD_REQUEST', 'The message is not a JSON-RPC 2.0 message');
    }
    transport.receive(message as JSONRPCMessage);
    return c.text('Accepted', 202);
  });

  return app;
}
