import { type ProgressStream, withProgress } from './progress.js';

/*
 * CLI commands that talk to a running gateway over its REST API. Output is
 * for people by default and JSON with --json; exit codes are for scripts:
 * 0 ok, 1 the gateway answered with an error (or a degraded status, or a
 * tool result with isError), 2 usage, 3 no gateway answered.
 */

export interface RemoteContext {
  url: string;
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Where waits show progress (a terminal's stderr); none when absent. */
  progress?: ProgressStream;
}

export class UsageError extends Error {}

/** No gateway answered at the URL. */
class Unreachable extends Error {}

/** What the progress line says while a lifecycle command runs. */
const DOING: Record<string, string> = { stop: 'stopping', remove: 'removing', reset: 'closing the circuit of' };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function request(ctx: RemoteContext, method: string, path: string, body?: unknown): Promise<Answer> {
  let response: Response;
  try {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    const token = process.env.STONEGATE_TOKEN;
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    response = await fetch(`${ctx.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (e) {
    throw new Unreachable(
      `no gateway answered at ${ctx.url} (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}); start one with 'stonegate serve' or pass --url`,
    );
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: response.status, body: { error: text.slice(0, 500), code: 'BAD_RESPONSE' } };
  }
}

/** A request that may take a while (a backend starting, a tool running), with progress on a terminal. */
function waitFor(ctx: RemoteContext, label: string, method: string, path: string, body: unknown): Promise<Answer> {
  const work = request(ctx, method, path, body);
  return ctx.progress === undefined ? work : withProgress(ctx.progress, label, work);
}

/** Prints an error answer and returns exit code 1, or 0 for a 2xx. */
function report(ctx: RemoteContext, answer: Answer, print: (body: Record<string, unknown>) => void): number {
  if (answer.status >= 400) {
    if (ctx.json) ctx.out(JSON.stringify(answer.body));
    else ctx.err(`stonegate: ${String(answer.body.code ?? answer.status)}: ${String(answer.body.error ?? 'request failed')}`);
    return 1;
  }
  if (ctx.json) ctx.out(JSON.stringify(answer.body, null, 2));
  else print(answer.body);
  return 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

interface ServerRow {
  name: string;
  status: string;
  circuit: string;
  tool_count: number;
  total_calls: number;
  error_rate: number;
  pid: number | null;
  restarts: number;
  last_error: string | null;
  protocol?: { era: string | null; how: string | null };
}

/** The ERA column: the era, `(auto)` when the backend was asked, `-` while an auto backend has not been. */
function eraCell(protocol: ServerRow['protocol']): string {
  if (protocol === undefined) return '-';
  if (protocol.era === null) return '- (auto)';
  return protocol.how === 'probed' ? `${protocol.era} (auto)` : protocol.era;
}

async function status(ctx: RemoteContext): Promise<number> {
  const health = await request(ctx, 'GET', '/health');
  const list = await request(ctx, 'GET', '/server/list');
  if (ctx.json) {
    ctx.out(JSON.stringify({ health: health.body, servers: list.body.servers }, null, 2));
  } else {
    const h = health.body;
    ctx.out(
      `stonegate ${String(h.version)} at ${ctx.url}: ${String(h.status)} — ${String(h.backends_healthy)}/${String(h.backends_total)} backends running, ${String(h.circuits_open)} circuits open`,
    );
    const rows = [['BACKEND', 'STATUS', 'ERA', 'CIRCUIT', 'TOOLS', 'CALLS', 'ERRORS', 'PID', 'RESTARTS', 'LAST ERROR']];
    for (const s of (list.body.servers as ServerRow[] | undefined) ?? []) {
      rows.push([
        s.name,
        s.status,
        eraCell(s.protocol),
        s.circuit,
        String(s.tool_count),
        String(s.total_calls),
        `${(s.error_rate * 100).toFixed(1)}%`,
        String(s.pid ?? '-'),
        String(s.restarts),
        s.last_error ?? '',
      ]);
    }
    ctx.out(table(rows));
  }
  return health.body.status === 'ok' ? 0 : 1;
}

async function tools(ctx: RemoteContext, server: string | undefined): Promise<number> {
  const answer = await request(ctx, 'GET', server === undefined ? '/tools' : `/tools/${encodeURIComponent(server)}`);
  return report(ctx, answer, (body) => {
    const list = body.tools as { server: string; name: string; description: string }[];
    ctx.out(table([['TOOL', 'DESCRIPTION'], ...list.map((t) => [`${t.server}/${t.name}`, (t.description.split('\n')[0] ?? '').slice(0, 100)])]));
    ctx.out(`${list.length} tools`);
  });
}

async function call(ctx: RemoteContext, target: string | undefined, args: string | undefined): Promise<number> {
  const slash = target?.indexOf('/') ?? -1;
  if (target === undefined || slash <= 0 || slash === target.length - 1)
    throw new UsageError('call needs SERVER/TOOL, e.g. stonegate call demo/echo --args \'{"text":"hi"}\'');
  let parsed: unknown = {};
  if (args !== undefined) {
    try {
      parsed = JSON.parse(args);
    } catch (e) {
      throw new UsageError(`--args is not valid JSON: ${(e as Error).message}`);
    }
  }
  const answer = await waitFor(ctx, `calling ${target}`, 'POST', '/call', { server: target.slice(0, slash), tool: target.slice(slash + 1), arguments: parsed });
  const code = report(ctx, answer, (body) => {
    const result = body.result as { content?: { type: string; text?: string }[]; structuredContent?: unknown };
    const texts = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text ?? '');
    ctx.out(texts.length > 0 ? texts.join('\n') : JSON.stringify(result, null, 2));
  });
  return code === 0 && (answer.body.result as { isError?: boolean } | undefined)?.isError === true ? 1 : code;
}

/** `add NAME CMD [ARGS...]`, `add NAME --http URL`, or `add --entry JSON`. */
function entryFrom(positionals: string[], flags: { http?: string; env?: string[]; entry?: string }): Record<string, unknown> {
  if (flags.entry !== undefined) {
    try {
      return JSON.parse(flags.entry) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`--entry is not valid JSON: ${(e as Error).message}`);
    }
  }
  const [name, command, ...rest] = positionals;
  if (name === undefined) throw new UsageError('add needs a NAME, then a command (stdio) or --http URL');
  const env: Record<string, string> = {};
  for (const pair of flags.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env takes KEY=VALUE, got '${pair}'`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (flags.http !== undefined) return { name, transport: 'http', url: flags.http };
  if (command === undefined) throw new UsageError(`add ${name} needs a command (stonegate add ${name} node server.js) or --http URL`);
  return { name, command, args: rest, env };
}

/** Runs a remote command; resolves with the exit code. */
export async function runRemote(
  ctx: RemoteContext,
  command: string,
  positionals: string[],
  flags: { args?: string; http?: string; env?: string[]; entry?: string },
): Promise<number> {
  try {
    switch (command) {
      case 'status':
        return await status(ctx);
      case 'tools':
        return await tools(ctx, positionals[0]);
      case 'call':
        return await call(ctx, positionals[0], flags.args);
      case 'add': {
        const entry = entryFrom(positionals, flags);
        const answer = await waitFor(ctx, `adding ${String(entry.name)}, waiting for it to start`, 'POST', '/server/add', entry);
        return report(ctx, answer, (body) => {
          const s = body.server as ServerRow;
          ctx.out(`added ${s.name}: ${s.status}, ${s.tool_count} tools`);
        });
      }
      case 'remove':
      case 'start':
      case 'stop':
      case 'restart':
      case 'reset': {
        const name = positionals[0];
        if (name === undefined) throw new UsageError(`${command} needs a backend NAME`);
        const answer = await waitFor(ctx, `${DOING[command] ?? `${command}ing`} ${name}`, 'POST', `/server/${command}`, { name });
        return report(ctx, answer, (body) => {
          const s = body.server as ServerRow | undefined;
          ctx.out(
            s === undefined ? `${command === 'remove' ? 'removed' : command} ${name}` : `${name}: ${s.status}, circuit ${s.circuit}, ${s.tool_count} tools`,
          );
        });
      }
      case 'reload': {
        if (positionals.length > 0) throw new UsageError('reload takes no arguments: it reads the config file the gateway was started with');
        const answer = await waitFor(ctx, 'reloading the config', 'POST', '/config/reload', {});
        // A refused file answers 422 with the error; the gateway keeps its previous configuration.
        return report(ctx, answer, (body) => {
          const b = body.backends as Record<string, string[] | number>;
          const names = (key: string): string => (b[key] as string[]).join(', ') || '-';
          ctx.out(
            `reloaded revision ${String(body.revision)}: added ${names('added')}; removed ${names('removed')}; restarted ${names('restarted')}; updated ${names('updated')}`,
          );
          const later = body.needs_restart as string[];
          if (later.length > 0) ctx.out(`needs a restart of the gateway: ${later.join(', ')}`);
        });
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof Unreachable) {
      ctx.err(`stonegate: ${e.message}`);
      return 3;
    }
    throw e;
  }
}
