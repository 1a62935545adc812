import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type ConfigOverrides } from './config/load.js';
import type { Config } from './config/schema.js';
import { Gateway } from './gateway.js';
import { createLogger } from './log.js';
import { serveStdio } from './mcp/stdio-session.js';
import { VERSION } from './version.js';

/*
 * argv → commands. The CLI is the one place in src/ that writes to the
 * terminal directly: its output is for people and scripts, not the log.
 */

const USAGE = `stonegate ${VERSION} — one MCP URL for every agent

Usage:
  stonegate serve [-c FILE] [--host H] [--port N] [--data-dir DIR] [--log-level L] [--log-format json|pretty] [--stdio]
      Start the gateway and its backends (default config ./stonegate.toml, listening on 127.0.0.1:3393).
      With --stdio: serve one MCP client on stdin/stdout instead of HTTP (logs go to stderr).
  stonegate check [-c FILE]
      Validate the config and print a summary; exit 2 when it is invalid.
  stonegate --version | --help

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  stdio: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

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
  const config = load(values);
  const stdio = values.stdio === true;
  const logger = createLogger({ level: config.logging.level, format: config.logging.format, fd: stdio ? 2 : 1 });
  if (config.file === undefined) logger.warn('no stonegate.toml found here: serving with the embedded defaults (no backends); create one with the README or pass -c');
  const gateway = new Gateway({ config, logger });
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
  if (stdio) {
    await gateway.start({ listen: false });
    await serveStdio(gateway);
    shutdown('stdin closed');
    return -1;
  }
  await gateway.start();
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
  if (values.version === true) {
    out(VERSION);
    return 0;
  }
  const command = positionals[0];
  if (values.help === true || command === undefined || command === 'help') {
    out(USAGE);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(values);
      case 'check':
        return check(values);
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
