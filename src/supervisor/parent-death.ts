import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/*
 * A parent-death signal for stdio children, without native code: util-linux
 * `setpriv --pdeathsig SIGKILL` sets it and execs the command (same pid, same
 * process group), so a child dies with a gateway killed by SIGKILL instead of
 * waiting for the next start's sweep (child-ledger.ts). The kernel clears it
 * across fork: grandchildren still wait for the sweep. Without setpriv (not
 * Linux, or util-linux older than 2.33) children are spawned as they are.
 */

let wrapper: string | null | undefined;

/** The setpriv binary when it knows --pdeathsig; looked up once. */
function setpriv(): string | null {
  if (wrapper !== undefined) return wrapper;
  wrapper = null;
  if (process.platform !== 'linux') return wrapper;
  for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      if (execFileSync(candidate, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000 }).includes('--pdeathsig')) {
        wrapper = candidate;
        break;
      }
    } catch {
      // not there, or too old
    }
  }
  return wrapper;
}

/**
 * The executable `command` runs, resolved as spawn would (a path against
 * `cwd`, a bare name on the child's PATH). Throws spawn's ENOENT or EACCES,
 * so a missing command still fails at once instead of as setpriv's exit 127.
 */
function resolveCommand(command: string, cwd: string, env: Record<string, string>): string {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(cwd, command)]
    : (env.PATH ?? process.env.PATH ?? '')
        .split(delimiter)
        .filter((d) => d !== '')
        .map((d) => join(resolve(cwd, d), command));
  let denied = false;
  for (const path of candidates) {
    try {
      if (!statSync(path).isFile()) continue;
      accessSync(path, constants.X_OK);
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') denied = true;
    }
  }
  const code = denied ? 'EACCES' : 'ENOENT';
  throw Object.assign(new Error(`spawn ${command} ${code}`), { code, path: command });
}

/** The command and arguments that run `command` with a parent-death signal when setpriv allows it; unchanged otherwise. */
export function withParentDeathSignal(command: string, args: readonly string[], cwd: string, env: Record<string, string>): { command: string; args: string[] } {
  const tool = setpriv();
  if (tool === null) return { command, args: [...args] };
  return { command: tool, args: ['--pdeathsig', 'SIGKILL', '--', resolveCommand(command, cwd, env), ...args] };
}

/** Whether children get a parent-death signal on this machine. */
export function parentDeathSignal(): boolean {
  return setpriv() !== null;
}
