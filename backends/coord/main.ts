// Standalone coordination server.
//   node dist/backends/coord/main.js --stdio [--db PATH|URL] [--pool-size N] [--opt key=value ...]
//   node dist/backends/coord/main.js [--port N] [--host H] [--db PATH|URL] [--pool-size N] [--max-sessions N] [--max-streams N] [--session-idle-timeout S] [--opt key=value ...]
// --db is a SQLite file, or a postgres:// URL: then the data is shared with
// every gateway and standalone server on that database (long polls wake
// across them), and --pool-size sets the connections in its pool.
// --max-sessions and --max-streams cap the MCP sessions and event streams
// open at once over HTTP (256 each; one more is refused with 429), and
// --session-idle-timeout closes a session idle that long (1800 s).
// HTTP mode serves MCP (Streamable HTTP, sessions) at /mcp and the REST + SSE
// API at /coord/* and at the root (the seed's paths, standalone-app.ts), and prints one JSON line {"msg":"coord listening","url":...}
// on stdout once it listens. Logs are JSON lines on stderr. --opt sets a
// [coordination] option (value parsed as JSON when it parses, else a string).
// SIGTERM/SIGINT stop it cleanly; in --stdio mode so does the end of stdin.
// Exit codes: 2 for bad arguments, 1 when the database cannot be opened.

import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type ServerType, serve } from '@hono/node-server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import pino from 'pino';
import { isLoopbackHost } from '../../kit/loopback.js';
import { redactUrl } from '../../kit/redact-url.js';
import { isPostgresUrl, openStoreAt } from './open-store.js';
import { optionsErrorSentence } from './option-errors.js';
import { type CoordOptions, CoordOptionsSchema, coordOptions } from './options.js';
import { COORD_VERSION, createCoordServer } from './server.js';
import { DEFAULT_STANDALONE_CAPS, type StandaloneCaps, standaloneApp } from './standalone-app.js';
import type { CoordStore } from './store.js';

const DEFAULT_PORT = 3392; // stonemux's port; the gateway itself uses 3393

/**
 * Runs the standalone coordination server with `argv` (the arguments after
 * the script, as `main.js` takes them). It then owns the process: its
 * signals, its exit. `stonegate coord` calls it; `node main.js` runs it.
 */
export async function run(argv: readonly string[]): Promise<void> {
  const logger = pino(
    { name: 'coord', level: process.env.COORD_LOG_LEVEL ?? 'info', timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );

  function fail(message: string, code = 2): never {
    logger.fatal(message);
    process.exit(code);
  }

  function parseOptions(pairs: string[]): CoordOptions {
    const raw: Record<string, unknown> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) fail(`--opt '${pair}' is not key=value (e.g. --opt task_claim_timeout=60)`);
      const value = pair.slice(eq + 1);
      try {
        raw[pair.slice(0, eq)] = JSON.parse(value);
      } catch {
        raw[pair.slice(0, eq)] = value;
      }
    }
    const parsed = CoordOptionsSchema.safeParse(raw);
    if (!parsed.success) fail(optionsErrorSentence(parsed.error, raw, '--opt'));
    return coordOptions(raw);
  }

  const { values } = (() => {
    try {
      return parseArgs({
        args: [...argv],
        options: {
          stdio: { type: 'boolean', default: false },
          port: { type: 'string' },
          host: { type: 'string', default: '127.0.0.1' },
          db: { type: 'string', default: join(homedir(), '.stonegate', 'coord.db') },
          'pool-size': { type: 'string' },
          'max-sessions': { type: 'string' },
          'max-streams': { type: 'string' },
          'session-idle-timeout': { type: 'string' },
          opt: { type: 'string', multiple: true, default: [] },
        },
        strict: true,
      });
    } catch (error) {
      fail(
        `${error instanceof Error ? error.message : String(error)}; usage: main.js [--stdio | --port N] [--host H] [--db PATH|URL] [--pool-size N] [--max-sessions N] [--max-streams N] [--session-idle-timeout S] [--opt key=value]`,
      );
    }
  })();

  /** --pool-size: PostgreSQL only, as [store] pool_size. */
  function poolSize(given: string | undefined): number | undefined {
    if (given === undefined) return undefined;
    if (!isPostgresUrl(values.db)) fail('--pool-size applies to a PostgreSQL --db (postgres://…); a SQLite file has no pool');
    const size = Number(given);
    if (!Number.isInteger(size) || size < 1 || size > 1000) fail(`--pool-size '${given}' is not a whole number from 1 to 1000`);
    return size;
  }

  /** --max-sessions, --max-streams: a whole number from 1 to 100000, else the default. */
  function cap(flag: 'max-sessions' | 'max-streams', fallback: number): number {
    const given = values[flag];
    if (given === undefined) return fallback;
    const n = Number(given);
    if (!/^\d+$/.test(given) || n < 1 || n > 100_000) fail(`--${flag} '${given}' is not a whole number from 1 to 100000`);
    return n;
  }
  /** --session-idle-timeout: seconds, more than 0 (fractions allowed, as the [coordination] durations), else the default. */
  function idleSeconds(given: string | undefined): number {
    if (given === undefined) return DEFAULT_STANDALONE_CAPS.sessionIdleSeconds;
    const n = Number(given);
    if (given.trim() === '' || !Number.isFinite(n) || n <= 0) fail(`--session-idle-timeout '${given}' is not a number of seconds above 0`);
    return n;
  }
  const caps: StandaloneCaps = {
    sessions: cap('max-sessions', DEFAULT_STANDALONE_CAPS.sessions),
    streams: cap('max-streams', DEFAULT_STANDALONE_CAPS.streams),
    sessionIdleSeconds: idleSeconds(values['session-idle-timeout']),
  };

  const options = parseOptions(values.opt);
  /** The database as logs may show it: a URL without its password. */
  const shownDb = redactUrl(values.db);
  const store: CoordStore = await openStoreAt({ db: values.db, poolSize: poolSize(values['pool-size']), setting: '--db' }, options, { logger }).catch(
    (error: unknown) => fail(error instanceof Error ? error.message : String(error), 1),
  );

  let stopping = false;
  let stopHttp: (() => Promise<void>) | undefined;

  async function shutdown(reason: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'coord stopping');
    // Closing the store first answers pending long-polls (503, nothing lost)
    // and ends SSE streams, so the HTTP server can drain instead of hanging.
    await stopHttp?.().catch(() => undefined);
    await store.close();
    process.exit(0);
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  if (values.stdio) {
    const server = createCoordServer(store, options, logger);
    // StdioServerTransport never notices that stdin ended; a closed stdin means the client is gone.
    process.stdin.once('end', () => void shutdown('stdin closed'));
    server.connect(new StdioServerTransport()).then(
      () => logger.info({ db: shownDb, version: COORD_VERSION }, 'coord ready on stdio'),
      (error: unknown) => fail(`failed to start: ${String(error)}`, 1),
    );
  } else {
    const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port '${values.port}' is not a port number (0 picks a free one)`);
    const host = values.host;
    const loopback = isLoopbackHost(host);
    if (!loopback) logger.warn({ host }, 'coord is listening beyond loopback without authentication; anyone who can reach it can read every inbox');

    // MCP at /mcp, REST under /coord and (for the seed's clients) at the root.
    const { app, mcp } = standaloneApp(store, options, logger, loopback, caps);

    const server: ServerType = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      const url = `http://${shown}:${info.port}`;
      logger.info({ url, db: shownDb }, 'coord listening');
      process.stdout.write(`${JSON.stringify({ msg: 'coord listening', url, mcp: `${url}/mcp`, rest: `${url}/coord` })}\n`);
    });
    server.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use; pick another with --port` : `cannot listen: ${error.message}`, 1),
    );
    stopHttp = async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await mcp.close();
      await store.close();
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closed;
    };
  }
}

// Run as a script (`node dist/backends/coord/main.js ...`), not when imported.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) await run(process.argv.slice(2));
