import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type { PrettyOptions, PrettyStream } from 'pino-pretty';

// pino-pretty (and what it pulls in) is loaded only for --log-format pretty.
const require = createRequire(import.meta.url);
const pretty = (options: PrettyOptions): PrettyStream => (require('pino-pretty') as (o: PrettyOptions) => PrettyStream)(options);

export type { Logger } from 'pino';

export interface LogOptions {
  level: string;
  format: 'json' | 'pretty';
  /** File descriptor to write to: 1 by default, 2 when stdout carries MCP (`serve --stdio`). */
  fd?: 1 | 2;
}

/** The one root logger; stages take `logger.child({ backend })` from it. */
export function createLogger(options: LogOptions): Logger {
  const fd = options.fd ?? 1;
  const base = { level: options.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.format === 'pretty') {
    return pino(base, pretty({ destination: fd, sync: true, colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd, sync: false }));
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
