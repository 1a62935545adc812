import { GatewayError } from '../errors.js';
import type { BackendConfig, SecuritySettings } from './schema.js';

/**
 * Environment variables that change how a runtime finds or loads code
 * (dynamic linker, Node, Python, Perl, Ruby, shells, JVM, git), and PATH,
 * which decides what a command name runs. A runtime add that sets one could
 * run code the operator never listed in allowed_commands.
 */
const LOADER_ENV = new Set([
  'PATH',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'LD_DEBUG_OUTPUT',
  'GCONV_PATH',
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONINSPECT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5OPT',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'BASH_ENV',
  'ENV',
  'ZDOTDIR',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'GIT_SSH_COMMAND',
  'GIT_EXEC_PATH',
  'GIT_CONFIG_GLOBAL',
]);

/** Whether an env key is one that changes how code is loaded. */
export function isLoaderEnv(key: string): boolean {
  const upper = key.toUpperCase();
  return LOADER_ENV.has(upper) || upper.startsWith('DYLD_') || upper.startsWith('LD_');
}

/**
 * What a backend added at runtime (POST /server/add, and stored runtime
 * backends replayed at start) may be: its command must be in
 * [security] allowed_commands when that list is not empty, exactly as
 * written (a name or a path), and its env may not set a loader variable
 * unless [security] allowed_env lists it, nor inherit the gateway's
 * environment. Commands are never run through a
 * shell (node:child_process spawn without `shell`), so arguments cannot smuggle in another one.
 */
export function checkRuntimeBackend(entry: BackendConfig, security: Readonly<SecuritySettings>): void {
  if (entry.transport === 'stdio' && security.allowed_commands.length > 0) {
    const command = entry.command ?? '';
    if (!security.allowed_commands.includes(command)) {
      throw new GatewayError(
        'FORBIDDEN',
        `Backend '${entry.name}': command '${command}' is not in [security] allowed_commands (${security.allowed_commands.join(', ')}); use one of those, or add it to allowed_commands in stonegate.toml`,
      );
    }
  }
  if (entry.inheritEnv) {
    throw new GatewayError(
      'FORBIDDEN',
      `Backend '${entry.name}': inherit_env would hand the gateway's whole environment (its tokens and keys) to a command added at runtime; pass the variables it needs in env, or declare the backend in stonegate.toml`,
    );
  }
  const allowedEnv = new Set(security.allowed_env.map((k) => k.toUpperCase()));
  for (const key of Object.keys(entry.env)) {
    if (isLoaderEnv(key) && !allowedEnv.has(key.toUpperCase())) {
      throw new GatewayError(
        'FORBIDDEN',
        `Backend '${entry.name}': env key '${key}' changes how the child loads code and is refused in runtime adds; remove it, or list it in [security] allowed_env in stonegate.toml`,
      );
    }
  }
}
