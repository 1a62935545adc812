import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Identity } from '../auth/tokens.js';
import { CallCancel } from '../router/call-cancel.js';
import { endHttpSpan, type HttpSpan, keyHttpSpan, startHttpSpan } from '../telemetry/telemetry.js';
import { capClientOf } from './client-slots.js';
import { type McpEndpoint, type McpEndpointSources, type McpRequest, parseJsonBody } from './mcp-endpoint.js';
import type { LeanAnswer } from './mcp-lean.js';
import type { GuardRequest } from './origin-guard.js';
import { type RestCallRequest, type RestSources, restCall } from './rest.js';
import { registeredRole } from './route-role.js';
import { bodyLimits, type GuardSources, isJson, type PlainAnswer, refusalAnswer, requestGuard } from './security.js';

/*
 * The hot routes of the front door, served by the Node listener before
 * Hono: REST `POST /call`, and `POST /mcp` and `/mcp/{server}` with a JSON
 * body (both eras), without a query string. Nothing of Hono's chain
 * but the guards applies to it, so it runs the guards themselves — the same
 * functions the chain runs (security.ts: requestGuard, bodyLimits; the
 * route's role, 'agent', as rest.ts declares it) — then the route's own
 * work (rest.ts: restCall; mcp-endpoint.ts: handle) and the app's error translation (app.ts:
 * errorAnswer), and writes the JSON answer with its length in one write.
 * Anything it does not recognise, or that needs more than those checks,
 * goes to Hono untouched: a query string (?view=), no Content-Length (a
 * chunked body is cut at the limit by the body guard), no Host (Hono
 * answers 400). With tracing on ([otel]) it starts and ends the request's
 * server span itself, as the chain's span middleware does (startHttpSpan,
 * endHttpSpan). test/issues/30-front-door.test.ts holds the hot path's
 * refusals to the chain's. [speed] A plain /mcp
 * tools/call that passes the guards is answered on the lean path
 * (mcp-lean.ts, serveMcp below); test/issues/30-lean-mcp.test.ts holds its
 * answers to the SDK path's.
 */

/** What the hot routes read and call of the gateway. */
export type HotSources = RestSources & GuardSources & McpEndpointSources;

/** Serves a request when it is a hot one (true), else leaves it untouched (false). */
type HotHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const hotHandlers = new WeakMap<Hono, HotHandler>();

/** A header of a Node request as a web Headers gives it: every value of the name, joined with ", ". */
function headerOf(raw: readonly string[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length === wanted.length && key.toLowerCase() === wanted) value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  return value;
}

/** Writes a JSON answer: status, headers and body in one write, with its Content-Length (no chunked encoding). */
function writeJson(res: ServerResponse, { status, headers, body }: PlainAnswer): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body of a request whose Content-Length the guard has checked (Node holds the body to that length). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const readText = async (req: IncomingMessage): Promise<string> => (await readBody(req)).toString('utf8');

/** [speed] An /mcp POST the hot route has guarded and read: what the endpoint's handler takes instead of guarding again. */
interface Prepared {
  identity: Identity | undefined;
  body: unknown;
  /** [otel] The request's server span (tracing on), started by serveMcp. */
  span: HttpSpan | undefined;
}

/** A lean /mcp answer (mcp-lean.ts): status, headers and the JSON text in one write, with its Content-Length. */
function writeLean(res: ServerResponse, { status, headers, text }: LeanAnswer): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A backend name in a /mcp/{server} path that needs no percent-decoding (anything else goes to Hono's route). */
const PLAIN_SERVER = /^\/mcp\/[A-Za-z0-9_.~-]+$/;

const NO_QUERY = new URLSearchParams();

/** Registers the hot routes of `app` (createApp calls it; `frontDoor` finds them). */
export function hotRoutes(app: Hono, gateway: HotSources, answer: (err: Error, path: string) => PlainAnswer, mcp: McpEndpoint): void {
  const guard = requestGuard(gateway);
  const limits = bodyLimits(gateway);
  // The roles the routes declare where they are defined (rest.ts, mcp-endpoint.ts), as the chain reads them.
  const callRole = registeredRole(app, 'POST', '/call');
  const mcpRole = registeredRole(app, 'POST', '/mcp');
  const serverRole = registeredRole(app, 'POST', '/mcp/:server');
  const call = restCall(gateway);
  const json = (reply: PlainAnswer): Response => Response.json(reply.body, { status: reply.status, headers: reply.headers });

  /**
   * POST /mcp and /mcp/{server} with a JSON body: the guards, then the
   * endpoint's own handler (mcp-endpoint.ts), on @hono/node-server's request
   * and response adaptation (the SDK transport speaks web Request and
   * Response) without Hono's router and middleware.
   */
  const mcpListener = getRequestListener(async (raw, bindings) => {
    const env = bindings as HttpBindings; // an HTTP/1.1 server (server.ts)
    const path = env.incoming.url as string;
    const header = (name: string): string | undefined => raw.headers.get(name) ?? undefined;
    const request: GuardRequest = { method: 'POST', path, header };
    const declared = path === '/mcp' ? mcpRole : serverRole;
    // [otel] The request's server span (tracing on), named by its route; the MCP span finds it by `raw`, as on the chain.
    const route = path === '/mcp' ? '/mcp' : '/mcp/:server';
    const started = prepared.get(env.incoming)?.span; // serveMcp's, keyed by the Request too
    keyHttpSpan(started, raw);
    const span = started ?? startHttpSpan(raw, 'POST', path, header, route);
    const reply = await mcpAnswer(raw, env, request, declared);
    endHttpSpan(span, route, reply.status);
    return reply;
  });

  /** A hot /mcp request's answer: the guards (unless serveMcp has run them), then the endpoint's handler; an error as the app translates it. */
  async function mcpAnswer(raw: Request, env: HttpBindings, request: GuardRequest, declared: ReturnType<typeof registeredRole>): Promise<Response> {
    const { path, header } = request;
    try {
      let ready = prepared.get(env.incoming);
      if (ready === undefined) {
        const verdict = await guard(request, declared, false);
        if (verdict.refused !== undefined) return json(refusalAnswer(request, verdict.refused));
        limits.checkLength(header('content-length') ?? '0');
        const text = await raw.text();
        const deep = limits.tooDeep(request, text);
        if (deep !== undefined) return json(deep);
        ready = { identity: verdict.identity, body: parseJsonBody(text), span: undefined };
      }
      const { identity, body } = ready;
      const req: McpRequest = {
        raw,
        method: 'POST',
        header,
        identity,
        outgoing: env.outgoing,
        client: () => capClientOf(identity, env.incoming, declared),
        query: () => NO_QUERY,
        body,
      };
      return await (path === '/mcp' ? mcp.handle(req, '/mcp') : mcp.handleServer(req, path.slice('/mcp/'.length)));
    } catch (err) {
      return json(answer(err instanceof Error ? err : new Error(String(err)), path));
    }
  }

  const prepared = new WeakMap<IncomingMessage, Prepared>();

  /**
   * [speed] A hot /mcp POST: the guards and the body read here (as serveCall does), then
   * the lean path (mcp-lean.ts) when the request is a plain tools/call, else the endpoint's handler on
   * @hono/node-server's adaptation, handed the body already read (`rawBody`, which it reads for a
   * consumed request) and the guards' verdict (`prepared`), so nothing runs twice. [otel] With tracing on,
   * the request's server span starts here (keyed by `req`, where the lean call's MCP span finds it) and is
   * handed to the endpoint's handler on the fallback.
   */
  async function serveMcp(req: IncomingMessage, res: ServerResponse, request: GuardRequest, declared: ReturnType<typeof registeredRole>): Promise<void> {
    const route = request.path === '/mcp' ? '/mcp' : '/mcp/:server';
    const span = startHttpSpan(req, 'POST', request.path, request.header, route);
    const write = (reply: PlainAnswer): void => {
      writeJson(res, reply);
      endHttpSpan(span, route, reply.status);
    };
    try {
      const verdict = await guard(request, declared, false);
      if (verdict.refused !== undefined) {
        unread(req, res);
        return write(refusalAnswer(request, verdict.refused));
      }
      limits.checkLength(request.header('content-length') ?? '0');
      const raw = await readBody(req);
      const text = raw.toString('utf8');
      const deep = limits.tooDeep(request, text);
      if (deep !== undefined) return write(deep);
      const body = parseJsonBody(text);
      const single = request.path === '/mcp' ? undefined : request.path.slice('/mcp/'.length);
      const lean = mcp.lean({ header: request.header, body, res, key: req }, verdict.identity, single);
      if (lean === undefined) {
        prepared.set(req, { identity: verdict.identity, body, span });
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
        void mcpListener(req, res);
        return;
      }
      const reply = await lean;
      if (reply !== undefined && !res.destroyed) writeLean(res, reply);
      endHttpSpan(span, route, res.statusCode);
    } catch (err) {
      if (res.headersSent || res.destroyed) {
        if (!res.headersSent) endHttpSpan(span, route, res.statusCode); // the client left before the answer
        return;
      }
      unread(req, res);
      write(answer(err instanceof Error ? err : new Error(String(err)), request.path));
    }
  }

  /** A refused request's unread body: drained when within max_body_bytes, else the connection closes after the answer (@hono/node-server bounds its drain too). */
  const unread = (req: IncomingMessage, res: ServerResponse): void => {
    if (Number(req.headers['content-length']) > limits.maxBytes) res.setHeader('connection', 'close');
    req.resume();
  };

  async function serveCall(req: IncomingMessage, res: ServerResponse, request: GuardRequest): Promise<void> {
    // [otel] The request's server span (tracing on), ended with the status written; the call's span is its child (`parent` below: no lookup by request).
    const span = startHttpSpan(undefined, 'POST', '/call', request.header, '/call');
    const write = (reply: PlainAnswer): void => {
      writeJson(res, reply);
      endHttpSpan(span, '/call', reply.status);
    };
    try {
      const verdict = await guard(request, callRole, false);
      if (verdict.refused !== undefined) {
        unread(req, res);
        write(refusalAnswer(request, verdict.refused));
        return;
      }
      limits.checkLength(request.header('content-length') ?? '0');
      const text = await readText(req);
      const deep = limits.tooDeep(request, text);
      if (deep !== undefined) return write(deep);
      // The client going away before the answer cancels the call (as the route's request signal does);
      // [speed] through a CallCancel: no AbortController or AbortSignal per call (router/call-cancel.ts).
      const aborter = new CallCancel();
      res.once('close', () => {
        if (!res.writableFinished) aborter.cancel();
      });
      const input: RestCallRequest = {
        text,
        view: undefined,
        identity: verdict.identity,
        header: request.header,
        signal: aborter,
        parent: span?.span,
      };
      write({ status: 200, headers: {}, body: await call(input) });
    } catch (err) {
      if (res.headersSent || res.destroyed) {
        if (!res.headersSent) endHttpSpan(span, '/call', res.statusCode); // the client left before the answer
        return;
      }
      unread(req, res);
      write(answer(err instanceof Error ? err : new Error(String(err)), request.path));
    }
  }

  hotHandlers.set(app, (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url as string;
    const rest = url === '/call';
    if (!rest && url !== '/mcp' && !PLAIN_SERVER.test(url)) return false;
    const raw = req.rawHeaders;
    if (headerOf(raw, 'content-length') === undefined || headerOf(raw, 'host') === undefined) return false;
    if (!rest) {
      // A body that is not JSON is the transport's to refuse (415), on Hono's route.
      if (!isJson(headerOf(raw, 'content-type'))) return false;
      void serveMcp(req, res, { method: 'POST', path: url, header: (name) => headerOf(raw, name) }, url === '/mcp' ? mcpRole : serverRole);
      return true;
    }
    const request: GuardRequest = { method: 'POST', path: '/call', header: (name) => headerOf(raw, name) };
    void serveCall(req, res, request);
    return true;
  });
}

/** The Node request listener of an app: its hot routes first (hotRoutes), then Hono. */
export function frontDoor(app: Hono): RequestListener {
  const fallback = getRequestListener(app.fetch);
  const hot = hotHandlers.get(app);
  if (hot === undefined) return fallback;
  return (req, res) => {
    if (!hot(req, res)) void fallback(req, res);
  };
}
