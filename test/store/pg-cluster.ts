import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of the PostgreSQL the tests share; '' when none could be had (never under CI). */
    pgUrl: string;
    /** Why there is no PostgreSQL, for the skip message. */
    pgMissing: string;
  }
}

/** Where initdb and pg_ctl live: STONEGATE_TEST_PG_BIN, the newest Debian cluster version, or PATH. */
function findBinaries(): string | undefined {
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * vitest globalSetup: gives the tests one PostgreSQL. STONEGATE_TEST_PG_URL
 * names an existing server; otherwise a throwaway cluster is created in a
 * temp dir (initdb, trust auth, loopback only, fsync off), started on a free
 * port and deleted in teardown. PostgreSQL refuses to run as root, so as
 * root the cluster runs as the `postgres` OS user. Test files each create
 * their own database in it (test/store/pg.ts), so they can run in parallel.
 * Under CI=true a missing PostgreSQL fails the run instead of skipping.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const given = process.env.STONEGATE_TEST_PG_URL;
  if (given !== undefined && given !== '') {
    project.provide('pgUrl', given);
    project.provide('pgMissing', '');
    return () => undefined;
  }
  const bin = findBinaries();
  if (bin === undefined) {
    const why = 'no PostgreSQL server binaries (initdb) found; install the postgresql package or set STONEGATE_TEST_PG_URL';
    if (process.env.CI === 'true') throw new Error(`PostgreSQL tests cannot run under CI: ${why}`);
    project.provide('pgUrl', '');
    project.provide('pgMissing', why);
    return () => undefined;
  }
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
  const teardown = (): void => {
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
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
    run('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', options, 'start']);
    started = true;
  } catch (error) {
    teardown();
    throw new Error(`could not start a throwaway PostgreSQL from ${bin}: ${String(error)}`);
  }
  project.provide('pgUrl', `postgres://postgres@127.0.0.1:${port}/postgres`);
  project.provide('pgMissing', '');
  return teardown;
}
