import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/*
 * Development tooling that both test/ (the PostgreSQL tests' globalSetup) and
 * bench/ (coord-pg) use; it lives in tools/ so neither imports the other.
 * Not shipped: the build compiles it only for the benches.
 */

/** A PostgreSQL server for tests and benches: its superuser URL, and how to stop and delete it. */
export interface PgCluster {
  url: string;
  /** Stops the server and deletes its folder (nothing for a server given by URL). Idempotent. */
  stop(): void;
  /** The postmaster's process id while it runs (benches read its CPU time and its children's). */
  pid(): number | undefined;
  /** Stops the server (fast shutdown: sessions are cut off, every commit is kept) and keeps its folder for start(). */
  halt(): void;
  /** Starts a halted server again, on the same port with the same settings. */
  start(): void;
  /** `pg_ctl restart` (fast shutdown, then start; returns once it accepts connections again). */
  restart(): void;
}

/** Where initdb and pg_ctl live: STONEGATE_TEST_PG_BIN, the newest Debian cluster version, or PATH. */
export function findPgBinaries(): string | undefined {
  const fromEnv = process.env.STONEGATE_TEST_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(debian, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? join(found, '..') : undefined;
}

/**
 * Creates a throwaway cluster in a temp dir (initdb, trust auth, loopback
 * only, fsync off: it holds nothing worth keeping), starts it on a free
 * port and returns its URL. PostgreSQL refuses to run as root, so as root
 * it runs as the `postgres` OS user.
 */
export async function startPgCluster(bin: string, options: { fsync?: boolean; settings?: string[] } = {}): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-pg-'));
  const asRoot = userInfo().uid === 0;
  // `runuser` drops root to the postgres user; as anyone else the tools run directly.
  const run = (tool: string, args: string[]): void => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  };
  if (asRoot) {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  let started = false;
  let settings = '';
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (started) {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already gone; the directory is removed either way.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const durability = options.fsync === true ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    // Extra `name=value` settings (the coord-pg bench's profile loads pg_stat_statements this way).
    const extra = (options.settings ?? []).map((s) => ` -c ${s}`).join('');
    settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=300${durability}${extra}`;
    run('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', settings, 'start']);
    started = true;
  } catch (error) {
    stop();
    throw new Error(`could not start a throwaway PostgreSQL from ${bin}: ${String(error)}`);
  }
  const pid = (): number | undefined => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'latin1').split('\n')[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  const halt = (): void => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  const start = (): void => run('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', settings, 'start']);
  const restart = (): void => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', settings, 'restart']);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, pid, halt, start, restart };
}
