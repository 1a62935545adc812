import type { Client } from '@modelcontextprotocol/client';
import { scrub, secretsOf } from '../../config/redact.js';
import type { BackendConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { Connection } from '../../pool/connection.js';
import { delay, describeInitError, newClient, serverInfo, transportClosed } from '../connect.js';
import { LineTransport } from '../line-transport.js';
import { type ExitInfo, StdioChild } from '../stdio-child.js';
import type { TransportContext } from '../transport.js';

/** Environment variables every child gets so that commands resolve; the rest is what the entry declares. */
const BASE_ENV = ['PATH', 'HOME'] as const;

/** Builds a child's environment: PATH and HOME, then the entry's env (or everything with inherit_env). */
export function childEnv(config: BackendConfig, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  const source = config.inheritEnv ? Object.keys(parent) : BASE_ENV;
  for (const key of source) {
    const value = parent[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, config.env);
}

function describeExit(exit: ExitInfo): string {
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? 'unknown'}`;
}

/** Spawns a stdio backend and initializes MCP over its stdin/stdout. */
export async function connectStdio(config: BackendConfig, context: TransportContext): Promise<Connection> {
  const { logger, hooks } = context;
  // `node` means the Node that runs the gateway, so a shipped config works
  // whatever node is first on PATH.
  const command = config.command === 'node' ? process.execPath : (config.command ?? '');
  const env = childEnv(config);
  // What `--log-level debug` is for when a backend will not start: the exact
  // command line, folder and variable names. Values never: env values are
  // secrets, and an argument that holds one is shown redacted.
  const secrets = secretsOf(config);
  logger.debug(
    { command, args: config.args.map((a) => scrub(a, secrets)), cwd: config.cwd, env_keys: Object.keys(env).sort(), inherit_env: config.inheritEnv },
    'spawning backend process',
  );
  let child: StdioChild;
  try {
    child = await StdioChild.spawn({
      command,
      args: config.args,
      cwd: config.cwd,
      env,
      logger,
      stderrLines: config.supervisor.stderr_lines,
      secrets: secretsOf(config),
      backend: config.name,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? `command '${config.command}' not found (is it installed and on PATH?) or cwd '${config.cwd}' is missing`
        : scrub((err as Error).message, secretsOf(config));
    throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${config.name}' could not start: ${why}`, {
      details: { permanent: code === 'ENOENT' || code === 'EACCES' },
    });
  }
  const transport = new LineTransport({ input: child.stdout, output: child.stdin, logger, maxLineBytes: config.supervisor.max_line_bytes });
  // [mcp-bridge] era (supervisor/era.ts): a pinned 2026-07-28 backend, or the verdict of stdio `auto`'s throwaway probe as `prior`.
  const client = newClient(hooks, hooks.era?.negotiation());
  // Set when we stop the child ourselves: then it gets its grace period.
  let stopping = false;
  const ended = Promise.race([child.exited, new Promise<null>((resolve) => transportClosed(transport, () => resolve(null)))]).then(async (first) => {
    // The transport may close a moment before the exit event: the exit says more.
    const exit = first ?? child.exitInfo ?? (await Promise.race([child.exited, delay(50)]));
    // A transport that closed on its own (a line over max_line_bytes, a
    // broken stdout) leaves a child we cannot talk to: it goes, and the end
    // counts as a crash. A leader that died leaves its group: that goes too,
    // so no grandchild outlives a crash. (A stop of ours does both itself,
    // after the grace period.)
    if (!stopping) {
      if (child.exitInfo === undefined) child.kill();
      else child.reap();
    }
    const reason = transport.failure ?? (exit ? describeExit(exit) : 'closed its stdout');
    return { reason, stderr: child.stderrTail };
  });
  const shutdown = (): Promise<void> => {
    stopping = true;
    return shutdownStdio(client, child, config);
  };
  const connection = new Connection({ client, pid: child.pid, ended, shutdown, lean: transport.lean }); // [speed] lean tools/call path
  logger.debug({ pid: child.pid, start_timeout: config.startTimeout }, 'backend process started; sending initialize');
  try {
    await client.connect(transport, { timeout: config.startTimeout, prior: hooks.era?.prior() });
    hooks.era?.learn(client);
    logger.debug({ pid: child.pid, server_info: serverInfo(client) }, 'backend initialized');
  } catch (err) {
    // The client closed the transport on failure: what counts is whether
    // the child died by itself (a crash at start) or just did not answer.
    // (After a timeout the child is killed by us: its exit says nothing.)
    const timedOut = err instanceof Error && /timed out/i.test(err.message);
    const exit = timedOut ? undefined : (child.exitInfo ?? (await Promise.race([child.exited, delay(100)])));
    // A child that does not speak MCP gets no grace period.
    child.kill();
    await connection.close();
    const tail = child.stderrTail.slice(-5);
    const why = transport.failure ?? (exit ? describeExit(exit) : scrub(describeInitError(err, config.startTimeout), secretsOf(config)));
    throw new GatewayError(
      'BACKEND_UNAVAILABLE',
      `Backend '${config.name}' failed to initialize: ${why}${tail.length ? ` — last stderr: ${tail.join(' | ')}` : ''}`,
      {
        details: { stderr: [...child.stderrTail] },
      },
    );
  }
  return connection;
}

async function shutdownStdio(client: Client, child: StdioChild, config: BackendConfig): Promise<void> {
  // Closing the client closes our transport first so that no response to a
  // request we no longer track is mistaken for garbage; then the child goes.
  await client.close().catch(() => undefined);
  await child.stop(config.supervisor.stop_timeout);
}
