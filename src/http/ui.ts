import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Context, Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { scrubDeep } from '../config/redact.js';
import { type CallView, viewOf } from '../dispatch/table.js';
import { GatewayError } from '../errors.js';
import type { GatewaySurface } from '../mcp/surface.js';
import type { CallRecord } from '../router/call-log.js';
import { intParam } from './body.js';
import { role } from './route-role.js';
import { scopeOf } from './security.js';

/** What this module reads and calls of the gateway. */
export type UiSources = Pick<GatewaySurface, 'callLog' | 'config' | 'dispatch' | 'onStop' | 'security'>;

/*
 * The dashboard's routes. /ui serves plain HTML, CSS and JS from src/ui
 * (no build step; read once at start), open without a token — the page
 * asks for one and sends it on every data request. Its data comes from
 * the REST API plus two routes here: GET /log/stream, the live call feed
 * as Server-Sent Events (an admin route, like GET /log), and GET /call, the
 * async calls in flight and recent.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page may load only its own files and talk only to this gateway. */
const HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * Where the assets are: src/ui beside this file when run from the sources,
 * and from dist/src/http the repository's (or the package's) src/ui.
 */
function assetDir(): string {
  const candidates = ['../ui/', '../../../src/ui/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (found === undefined) throw new Error(`The dashboard's files are missing (looked in ${candidates.join(', ')}); reinstall stonegate`);
  return found;
}

function loadAssets(): Map<string, { body: string; type: string }> {
  const dir = assetDir();
  const assets = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) assets.set(name, { body: readFileSync(join(dir, name), 'utf8'), type });
  }
  return assets;
}

/** ms between keepalive comments on an idle call stream. */
const KEEPALIVE_MS = 15_000;
/** Events a call stream may have waiting to be written before it is cut off. */
const MAX_QUEUED = 1_000;

/** The dashboard: static files, the call event stream, and the async-call list. */
export function uiRoutes(gateway: UiSources): Hono {
  const app = new Hono();
  const assets = loadAssets();

  // One listener on the call log fans out to the open streams; streams end when the gateway stops.
  const streams = new Set<(record: CallRecord) => void>();
  const closers = new Set<() => void>();
  gateway.callLog.onRecord((record) => {
    for (const send of streams) send(record);
  });
  gateway.onStop(async () => {
    for (const close of closers) close();
  });

  const asset = (c: Context, name: string): Response => {
    const file = assets.get(name);
    if (file === undefined) throw new GatewayError('UNKNOWN_ROUTE', `No dashboard file '${name.slice(0, 100)}'; open /ui/`);
    return c.body(file.body, 200, { ...HEADERS, 'Content-Type': file.type });
  };
  app.get('/ui', role('public'), (c) => c.redirect('/ui/', 301));
  app.get('/ui/', role('public'), (c) => asset(c, 'index.html'));
  app.get('/ui/:file', role('public'), (c) => asset(c, c.req.param('file')));

  app.get('/log/stream', role('admin'), (c) => {
    const scope = scopeOf(c);
    const backlog = intParam(c, 'backlog', 0, gateway.config.gateway.call_log_size);
    const visible = (r: CallRecord): boolean => scope === undefined || scope.has(r.server);
    return streamSSE(c, async (stream: SSEStreamingApi) => {
      // Writes are chained; a reader that falls MAX_QUEUED events behind is
      // cut off (it reconnects, with ?backlog= for what it missed) rather
      // than letting the queue grow without bound.
      let queue = Promise.resolve();
      let queued = 0;
      let end: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => (end = resolve));
      const write = (text: () => Promise<void>): void => {
        if (queued >= MAX_QUEUED) return end();
        queued += 1;
        queue = queue.then(text).then(
          () => void (queued -= 1),
          () => end(),
        );
      };
      const send = (record: CallRecord): void => {
        if (visible(record)) write(() => stream.writeSSE({ event: 'call', data: JSON.stringify(record) }));
      };
      await stream.write(': stonegate call stream\n\n');
      for (const record of gateway.callLog.recent({ limit: backlog }).filter(visible).reverse()) send(record);
      streams.add(send);
      closers.add(end);
      stream.onAbort(end);
      c.req.raw.signal.addEventListener('abort', end, { once: true });
      const timer = setInterval(() => write(() => stream.write(': keepalive\n\n').then(() => undefined)), KEEPALIVE_MS);
      await ended;
      clearInterval(timer);
      streams.delete(send);
      closers.delete(end);
    });
  });

  // Async calls, newest first: an admin token (or no auth) sees every
  // caller's, an agent token its own; a token limited to backends only theirs.
  app.get('/call', role('agent'), async (c) => {
    const identity = c.get('identity');
    const owner = identity === undefined || identity.role === 'admin' ? null : identity.name;
    const state = c.req.query('state') ?? 'all';
    if (state !== 'all' && state !== 'active') throw new GatewayError('BAD_REQUEST', `state must be active or all, got '${state.slice(0, 50)}'`);
    const limit = intParam(c, 'limit', 50, 1000);
    const scope = scopeOf(c);
    // Filtered in the store, before the limit: a page of finished calls must not hide an older running one.
    const rows = await gateway.dispatch.list(owner, limit + 1, { active: state === 'active', servers: scope === undefined ? undefined : [...scope] });
    const stored = rows.slice(0, limit);
    // A running call's progress and state live in the table, not the store.
    const current = await Promise.all(
      stored.map((call) => (call.state === 'pending' || call.state === 'running' ? gateway.dispatch.get(call.id, owner).catch(() => call) : call)),
    );
    const calls = current
      .filter((call) => state === 'all' || call.state === 'pending' || call.state === 'running')
      .map((call): CallView & { caller: string | null } => {
        const { result: _result, ...view } = viewOf(call);
        return { ...view, caller: call.caller };
      });
    return c.json({ calls: scrubDeep(calls, gateway.security.secrets()), total: calls.length, has_more: rows.length > limit });
  });

  return app;
}
