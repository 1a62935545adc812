import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/server';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { answerGone, cancelWhenGone } from '../../kit/cancel-when-gone.js';
import { fromLoopback } from './loopback-host.js';
import type { CoordOptions } from './options.js';
import { createCoordServer } from './server.js';
import type { CoordLogger, CoordStore } from './store.js';

interface Session {
  server: McpServer;
  transport: WebStandardStreamableHTTPServerTransport;
  /** When its last request ended (or arrived), ms since the epoch. */
  lastSeen: number;
  /** Its requests whose responses are still open (a long poll, the GET stream). */
  active: number;
}

/** What the endpoint holds at most: sessions, and how long an idle one lives. */
export interface SessionLimits {
  /** Sessions open or opening at once (--max-sessions). */
  max: number;
  /** Milliseconds without a request (and none open) before a session is closed (--session-idle-timeout). */
  idleMs: number;
}

/** The MCP endpoint of the standalone server and how to end its sessions. */
export interface CoordMcpEndpoint {
  app: Hono;
  /** Number of open sessions. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * DNS-rebinding protection for a loopback-bound server: a web page the user
 * visits must not reach it through a hostile DNS name, so Host (and Origin
 * when a browser sends one) must name a loopback host.
 */
function loopbackOnly(): MiddlewareHandler {
  return async (c, next) => {
    if (!fromLoopback(c)) {
      return c.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Forbidden: Host or Origin is not a loopback name' }, id: null }, 403);
    }
    await next();
  };
}

function rpcError(c: Context, status: 400 | 404, code: number, message: string): Response {
  return c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status);
}

/** Seconds a client refused for the session cap is asked to wait (Retry-After). */
const RETRY_AFTER = 1;

/**
 * Hands a request to a session's transport. A JSON POST is parsed here (the
 * transport takes the parsed body) so that its requests can be cancelled
 * when the client goes away before the answer (cancelWhenGone): a long
 * poll then ends without taking a message for nobody. Anything else is the
 * transport's to judge.
 */
async function dispatch(c: Context, transport: WebStandardStreamableHTTPServerTransport, logger: CoordLogger | undefined): Promise<Response> {
  if (c.req.method !== 'POST' || !(c.req.header('content-type') ?? '').toLowerCase().includes('application/json')) return transport.handleRequest(c.req.raw);
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return rpcError(c, 400, -32700, 'Parse error: the body is not valid JSON');
  }
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  cancelWhenGone(answerGone(outgoing, c.req.raw), body, transport, (id) =>
    logger?.debug({ session: transport.sessionId ?? null, request: id }, 'mcp request cancelled: its response stream closed'),
  );
  return transport.handleRequest(c.req.raw, { parsedBody: body });
}

/**
 * Streamable HTTP at /mcp with sessions: each initialize gets its own
 * McpServer over the SDK's web-standard transport, all over the one store.
 * At most `maxSessions` are open or opening at once: a new session beyond
 * is refused (429, RATE_LIMITED, Retry-After) before anything is built, so
 * a client that opens sessions and never ends them cannot exhaust memory.
 * A session with no request for `idleMs`, and none still answering, is
 * closed, as the gateway closes its own after session_idle_timeout.
 */
export function coordMcpEndpoint(
  store: CoordStore,
  options: CoordOptions,
  logger: CoordLogger | undefined,
  guardLoopback: boolean,
  limits: SessionLimits,
): CoordMcpEndpoint {
  const app = new Hono();
  const sessions = new Map<string, Session>();
  const maxSessions = limits.max;
  /** POSTs without a session id being answered now: each may open one. */
  let opening = 0;
  if (guardLoopback) app.use('/mcp', loopbackOnly());
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions) {
        if (session.active > 0 || now - session.lastSeen <= limits.idleMs) continue;
        sessions.delete(id);
        logger?.debug({ session: id }, 'mcp session closed: idle');
        void session.server.close().catch(() => undefined);
      }
    },
    Math.min(Math.max(limits.idleMs / 4, 100), 60_000),
  );
  sweep.unref();

  app.on(['GET', 'POST', 'DELETE'], '/mcp', async (c) => {
    const id = c.req.header('mcp-session-id');
    if (id !== undefined) {
      const session = sessions.get(id);
      if (session === undefined) return rpcError(c, 404, -32001, 'Session not found; initialize a new session');
      session.lastSeen = Date.now();
      // Busy until the response closes: a long poll or the GET stream keeps the session.
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (outgoing !== undefined) {
        session.active += 1;
        outgoing.once('close', () => {
          session.active -= 1;
          session.lastSeen = Date.now();
        });
      }
      return dispatch(c, session.transport, logger);
    }
    if (c.req.method !== 'POST') return rpcError(c, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (POST an initialize request first)');
    if (sessions.size + opening >= maxSessions) {
      const message = `RATE_LIMITED: the server holds ${sessions.size} MCP sessions, its limit (--max-sessions ${maxSessions}); end sessions you no longer use (DELETE /mcp), or retry after ${RETRY_AFTER} s`;
      c.header('Retry-After', String(RETRY_AFTER));
      return c.json({ jsonrpc: '2.0', error: { code: -32000, message, data: { code: 'RATE_LIMITED' } }, id: null }, 429);
    }
    opening += 1;
    try {
      return await openSession(c);
    } finally {
      opening -= 1;
    }
  });

  /** Answers a POST without a session id: an initialize opens a session; anything else is the transport's to refuse. */
  async function openSession(c: Context): Promise<Response> {
    const server = createCoordServer(store, options, logger);
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, { server, transport, lastSeen: Date.now(), active: 0 });
        logger?.debug({ session: sessionId }, 'mcp session opened');
      },
      onsessionclosed: (sessionId) => {
        sessions.delete(sessionId);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    const response = await dispatch(c, transport, logger);
    if (transport.sessionId === undefined) await server.close(); // not an initialize: nothing opened
    return response;
  }

  return {
    app,
    get size() {
      return sessions.size;
    },
    async close() {
      clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.server.close()));
      sessions.clear();
    },
  };
}
