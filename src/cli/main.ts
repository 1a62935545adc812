import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isPostgresUrl, runCoord } from '../builtins/coord.js';
import { ConfigError, type ConfigOverrides, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { VERSION } from '../version.js';
import { coordCopy } from './coord-copy.js';
import { readSeedConfig, type SeedConfig, translateSeedConfig } from './coord-seed-config.js';
import { applyHeapPolicy, leaveStartupHeap, serveHeap, startupEnds } from './heap.js';
import { localAddress } from './local-address.js';
import { runRemote, UsageError } from './remote.js';
import { printServeSummary } from './serve-summary.js';

/*
 * argv → commands. The CLI is the one place in src/ that writes to the
 * terminal directly: its output is for people and scripts, not the log.
 */

const USAGE = `stonegate ${VERSION} — one MCP URL for every agent

Usage:
  stonegate serve [-c FILE] [--host H] [--port N] [--data-dir DIR] [--log-level L] [--log-format json|pretty] [--stdio]
      Start the gateway and its backends (default config ./stonegate.toml, listening on 127.0.0.1:3393).
      With --stdio: serve one MCP client on stdin/stdout instead of HTTP (logs go to stderr).
      The dashboard is at /ui; with --log-format pretty a start summary shows each backend as it comes up.
  stonegate init [--dir PATH] [--write-mcp-config PATH] [--write-claude-md [--uninstall]]
      Write a commented starter stonegate.toml in PATH (never over an existing one), create its data_dir,
      and print MCP client configs; --write-mcp-config merges the stonegate server into an .mcp.json;
      --write-claude-md writes the coordination etiquette for agents into CLAUDE.md / AGENTS.md in PATH
      between markers, and with --uninstall removes exactly that (and nothing else is done).
  stonegate doctor [-c FILE] [--url URL]
      Check the config, each backend's command, data_dir, the port, /health, MCP initialize and
      tools/list per backend; one line per check with a fix hint; exit 1 when a check fails.
      --url may name a standalone coordination server (stonegate coord): its checks instead.
  stonegate check [-c FILE]
      Validate the config and print a summary; exit 2 when it is invalid.
  stonegate coord [--stdio | --port N] [--host H] [--db PATH|URL] [--pool-size N] [--max-sessions N] [--max-streams N] [--session-idle-timeout S] [--opt key=value ...] [-c FILE]
      Run the coordination backend alone: MCP at /mcp and REST at /coord on 127.0.0.1:3392,
      or MCP on stdin/stdout with --stdio. --db is a SQLite file or a postgres:// URL (shared with
      the gateways on it); default: the config's [store] url, else data_dir/coord.db.
      Options default to the config's [coordination], --opt overrides one. -c also takes the seed's
      own config file ([server], [events], …: translated, each key logged). REST is at the root too.
  stonegate coord backup FILE [--db PATH] [-c FILE]
      Copy the SQLite coordination store to FILE (a new file) with SQLite's online backup, consistent
      while servers write. PostgreSQL: use pg_dump.
  stonegate coord restore FILE [--db PATH] [-c FILE]
      Replace the store with the backup FILE; refused while a server has the store open, and for a
      FILE that is not a coordination store.

Against a running gateway (--url, else $STONEGATE_URL, else the config's host and port;
the bearer token, when the gateway has [auth], comes from $STONEGATE_TOKEN):
  stonegate status                      health and every backend (exit 1 when degraded)
  stonegate tools [SERVER]              the tool catalog
  stonegate call SERVER/TOOL [--args JSON]
                                        call a tool (exit 1 on an error or an isError result)
  stonegate add NAME COMMAND [ARGS...] [--env KEY=VALUE ...]
  stonegate add NAME --http URL         add a backend at runtime (or --entry JSON: a full [[backends]] entry)
  stonegate remove NAME | start NAME | stop NAME | restart NAME
  stonegate reset NAME                  close a backend's open circuit by hand
  stonegate reload                      read the gateway's config file again (exit 1 when it is refused)
  stonegate auth login BACKEND [--no-browser] | auth logout BACKEND | auth status
                                        an oauth backend's login (grant = "authorization_code"), in data_dir
  Add --json for machine-readable output.

  stonegate --version | --help

Exit codes: 0 ok, 1 failure (or an error answer), 2 usage or config error, 3 no gateway answered.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  stdio: { type: 'boolean' },
  url: { type: 'string' },
  json: { type: 'boolean' },
  args: { type: 'string' },
  http: { type: 'string' },
  env: { type: 'string', multiple: true },
  entry: { type: 'string' },
  dir: { type: 'string' },
  'write-mcp-config': { type: 'string' },
  'write-claude-md': { type: 'boolean' },
  uninstall: { type: 'boolean' },
  'no-browser': { type: 'boolean' },
  db: { type: 'string' },
  'pool-size': { type: 'string' },
  'max-sessions': { type: 'string' },
  'max-streams': { type: 'string' },
  'session-idle-timeout': { type: 'string' },
  opt: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/**
 * `stonegate tools | head` closes our stdout early: that is the reader's
 * choice, not an error worth a stack trace. (Not for `serve`, whose stdout
 * may be an MCP stream that stops with its own shutdown.)
 */
function quietOnEpipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function err(text: string): void {
  process.stderr.write(`${text}\n`);
}

function overridesFrom(values: Values): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  if (values.host !== undefined) overrides.host = values.host;
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, got '${values.port}'`);
    overrides.port = port;
  }
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
  if (values['log-format'] !== undefined) overrides.logFormat = values['log-format'];
  return overrides;
}

function load(values: Values): Config {
  return loadConfig({ file: values.config, explicit: values.config !== undefined, overrides: overridesFrom(values) });
}

async function serve(values: Values): Promise<number> {
  const [{ Gateway }, { loadBuiltins }] = await Promise.all([import('../gateway/gateway.js'), import('../gateway/builtins-wanted.js')]);
  const config = load(values);
  const stdio = values.stdio === true;
  const logger = createLogger({ level: config.logging.level, format: config.logging.format, fd: stdio ? 2 : 1 });
  applyHeapPolicy(config.server.heap); // [speed] before the gateway allocates its state
  logger.info({ heap: config.server.heap }, 'heap sizing');
  // [speed] The start-up sizing (bin/stonegate.js) ends once every backend has started (at most STARTUP_HEAP_MAX_MS); then the policy's, by load.
  const serving = (ready: Promise<void>): void =>
    void startupEnds(ready).then(() => {
      logger.debug({ heap: config.server.heap, after_ms: Math.round(performance.now()) }, 'start-up heap sizing ended');
      serveHeap(config.server.heap, (event) => logger.debug({ heap: config.server.heap, ...event }, 'heap state'));
    });
  if (config.file === undefined)
    logger.warn(
      'no stonegate.toml found here: serving with the embedded defaults (no backends); create one with `stonegate init` (docs/configuration.md lists every key) or pass -c',
    );
  // A reload reads the same file with the same command-line overrides (--port 0 stays 0).
  const overrides = overridesFrom(values);
  const reload = config.file === undefined ? undefined : (): Config => loadConfig({ file: config.file, explicit: true, overrides });
  await loadBuiltins(config); // [speed] only serve imports the gateway's modules (above), and coord's only when mounted
  const gateway = new Gateway({ config, logger, reload });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: closing the listener and every backend');
    gateway.stop().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => void gateway.reloader.reload('signal'));
  if (stdio) {
    serving((await gateway.start({ listen: false })).ready);
    await (await import('../mcp/stdio-session.js')).serveStdio(gateway);
    shutdown('stdin closed');
    return -1;
  }
  const started = await gateway.start();
  serving(started.ready);
  if (config.logging.format === 'pretty') printServeSummary(gateway, started, out);
  return -1; // keep running until a signal
}

function check(values: Values): number {
  const config = load(values);
  out(`config ok: ${config.file ?? '(embedded defaults)'}`);
  out(`  listen    http://${config.server.host}:${config.server.port}/mcp`);
  out(`  data_dir  ${config.server.dataDir}`);
  out(`  backends  ${config.backends.length}`);
  for (const b of config.backends) {
    const target = b.transport === 'http' ? b.url : [b.command, ...b.args].join(' ');
    out(`    - ${b.name} (${b.transport}${b.enabled ? '' : ', disabled'}): ${target ?? ''}`);
  }
  return 0;
}

/**
 * `stonegate coord`: the standalone coordination server in this process.
 * backends/coord/main.ts's run(argv) then owns the process (its signals,
 * its exit); this builds its argv —
 * --db defaulting to [store] url or data_dir/coord.db, every [coordination] key of the
 * config as an --opt before the user's own (the last one of a key wins). No child process: one PID for supervisors to manage.
 */
async function coord(values: Values, extra: string[]): Promise<number> {
  if (extra[0] === 'backup' || extra[0] === 'restore') {
    if (values.stdio === true || values.port !== undefined || values.host !== undefined || values.opt !== undefined) {
      throw new UsageError(`coord ${extra[0]} copies the store; it takes --db, -c and --data-dir, not --stdio, --port, --host or --opt`);
    }
    return coordCopy(extra[0], extra.slice(1), coordStoreOf(values).db, out);
  }
  if (extra.length > 0) throw new UsageError(`coord takes no arguments but backup FILE or restore FILE, got '${extra.join(' ')}'`);
  if (values.stdio === true && (values.port !== undefined || values.host !== undefined)) {
    throw new UsageError('coord: --stdio serves MCP on stdin/stdout; it takes no --port or --host');
  }
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, got '${values.port}'`);
  }
  // The seed's own config file ([events], [license], …): translated, not loaded as a stonegate.toml.
  const seed = values.config === undefined ? undefined : readSeedConfig(values.config);
  if (seed !== undefined && values.config !== undefined) return coordFromSeed(values, translateSeedConfig(values.config, seed));
  const { config, db } = coordStoreOf(values);
  const { enabled: _enabled, ...coordination } = config.coordination;
  const args = ['--db', db];
  const poolSize = values['pool-size'] ?? (isPostgresUrl(db) ? String(config.store.pool_size) : undefined);
  if (poolSize !== undefined) args.push('--pool-size', poolSize);
  args.push(...capFlags(values));
  if (values.stdio === true) args.push('--stdio');
  if (values.port !== undefined) args.push('--port', values.port);
  if (values.host !== undefined) args.push('--host', values.host);
  for (const [key, value] of Object.entries(coordination)) args.push('--opt', `${key}=${JSON.stringify(value)}`);
  for (const pair of values.opt ?? []) args.push('--opt', pair);
  if (values['log-level'] !== undefined || process.env.COORD_LOG_LEVEL === undefined) process.env.COORD_LOG_LEVEL = config.logging.level;
  await runCoord(args);
  return -1; // main.js keeps running and exits on its own (SIGTERM, SIGINT, end of stdin)
}

/** The standalone server's caps, passed on as given (main.js checks them). */
const CAP_FLAGS = ['max-sessions', 'max-streams', 'session-idle-timeout'] as const;
const capFlags = (values: Values): string[] =>
  CAP_FLAGS.flatMap((flag) => {
    const given = values[flag];
    return given === undefined ? [] : [`--${flag}`, given];
  });

/** `stonegate coord -c SEED_FILE`: the seed config's translation, logged, then the flags given on the command line over it. */
async function coordFromSeed(values: Values, seed: SeedConfig): Promise<number> {
  const level = values['log-level'] ?? seed.logLevel ?? process.env.COORD_LOG_LEVEL ?? 'info';
  const logger = createLogger({ level, format: 'json', fd: 2 }).child({ name: 'coord' });
  for (const translation of seed.translations) logger.info({ config: values.config }, `seed config: ${translation}`);
  logger.flush();
  const db = values.db ?? seed.db ?? join(homedir(), '.stonegate', 'coord.db');
  const args = ['--db', db];
  if (values['pool-size'] !== undefined) args.push('--pool-size', values['pool-size']);
  args.push(...capFlags(values));
  if (values.stdio === true) args.push('--stdio');
  const port = values.port ?? (values.stdio === true ? undefined : seed.port);
  const host = values.host ?? (values.stdio === true ? undefined : seed.host);
  if (port !== undefined) args.push('--port', port);
  if (host !== undefined) args.push('--host', host);
  for (const pair of [...seed.opts, ...(values.opt ?? [])]) args.push('--opt', pair);
  process.env.COORD_LOG_LEVEL = level;
  await runCoord(args);
  return -1;
}

/**
 * The config `stonegate coord` reads and the store it names: --db, else the
 * config's [store] PostgreSQL (the same data as its gateways), else
 * data_dir/coord.db. Only data_dir, [store] and [coordination] matter here:
 * --host and --port are the coordination server's own, not the gateway's.
 */
function coordStoreOf(values: Values): { config: Config; db: string } {
  const overrides: ConfigOverrides = {};
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
  const config = loadConfig({ file: values.config, explicit: values.config !== undefined, overrides });
  return { config, db: values.db ?? (config.store.url !== '' ? config.store.url : join(config.server.dataDir, 'coord.db')) };
}

/** The gateway a remote command talks to: --url, $STONEGATE_URL, or the config's host and port. */
function gatewayUrl(values: Values): string {
  const given = values.url ?? process.env.STONEGATE_URL;
  if (given !== undefined && given !== '') return given.replace(/\/+$/, '');
  let config: Config | undefined;
  try {
    config = load(values);
  } catch {
    // no usable config: the defaults
  }
  return localAddress(config).base;
}

/** Runs the CLI; resolves with the exit code (or -1 for a server that keeps running). */
export async function main(argv: string[]): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    err(`stonegate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const coordOnly = [values.db, values.opt, values['pool-size'], values['max-sessions'], values['max-streams'], values['session-idle-timeout']];
  if (positionals[0] !== 'coord' && coordOnly.some((given) => given !== undefined)) {
    err(`stonegate: --db, --pool-size, --max-sessions, --max-streams, --session-idle-timeout and --opt belong to 'stonegate coord'\n\n${USAGE}`);
    return 2;
  }
  if (values.version === true) {
    out(VERSION);
    return 0;
  }
  const command = positionals[0];
  if (values.help === true || command === undefined || command === 'help') {
    out(USAGE);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  if (command !== 'serve') {
    quietOnEpipe();
    leaveStartupHeap(); // [speed] V8's defaults: the start-up sizing is for serve
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(values);
      case 'check':
        return check(values);
      case 'coord':
        return await coord(values, positionals.slice(1));
      case 'init':
        if (positionals.length > 1) throw new UsageError(`init takes no arguments (use --dir PATH), got '${positionals.slice(1).join(' ')}'`);
        if (values.uninstall === true && values['write-claude-md'] !== true) throw new UsageError('--uninstall goes with --write-claude-md');
        // [speed] init, doctor and auth are loaded by their command only: `serve` never runs them (#30, idle memory).
        return (await import('./init.js')).runInit({
          dir: values.dir,
          writeMcpConfig: values['write-mcp-config'],
          writeClaudeMd: values['write-claude-md'] === true,
          uninstall: values.uninstall === true,
          out,
        });
      case 'doctor': {
        const url = values.url ?? process.env.STONEGATE_URL;
        const token = process.env.STONEGATE_TOKEN;
        return await (await import('./doctor.js')).runDoctor({
          config: values.config,
          explicit: values.config !== undefined,
          overrides: overridesFrom(values),
          url: url === '' ? undefined : url,
          token: token === '' ? undefined : token,
          out,
        });
      }
      case 'auth': // [oauth-out] cli/auth.ts
        return await (await import('./auth.js')).runAuth(
          { config: load(values), gatewayUrl: gatewayUrl(values), json: values.json === true, noBrowser: values['no-browser'] === true, out, err },
          positionals.slice(1),
        );
      case 'status':
      case 'tools':
      case 'call':
      case 'add':
      case 'remove':
      case 'start':
      case 'stop':
      case 'restart':
      case 'reset':
      case 'reload':
        return await runRemote(
          { url: gatewayUrl(values), json: values.json === true, out, err, progress: process.stderr },
          command,
          positionals.slice(1),
          values,
        );
      default:
        err(`stonegate: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) {
      err(`stonegate: ${e.message}`);
      return 2;
    }
    err(`stonegate: ${(e as Error).message}`);
    return 1;
  }
}
