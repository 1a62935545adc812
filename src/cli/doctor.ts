import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Tool } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ConfigError, type ConfigOverrides, loadConfig } from '../config/load.js';
import type { BackendConfig, Config } from '../config/schema.js';
import { VERSION } from '../version.js';
import { COORD_SERVER_NAME, checkCoordServer } from './doctor-coord.js';
import { localAddress } from './local-address.js';

/*
 * `stonegate doctor`: one line per check, each failure with what to do.
 * Offline checks first (config, each backend's command, data_dir), then the
 * gateway: the port free or a stonegate answering on it, /health, an MCP
 * initialize on /mcp and a tools/list counted per backend. Lines print as
 * each check finishes, so a slow step shows where it is. A --url of a
 * standalone coordination server gets that server's checks (doctor-coord.ts).
 */

type Level = 'ok' | 'warn' | 'FAIL' | 'skip';

export interface DoctorOptions {
  config?: string;
  explicit: boolean;
  overrides: ConfigOverrides;
  /** --url or $STONEGATE_URL: the gateway must answer there. */
  url?: string;
  token?: string;
  out: (text: string) => void;
}

class Report {
  failures = 0;
  constructor(private readonly out: (text: string) => void) {}

  line(level: Level, what: string, detail: string, fix?: string): void {
    if (level === 'FAIL') this.failures += 1;
    this.out(`${level.padEnd(4)}  ${what.padEnd(22)}  ${detail}${fix === undefined ? '' : ` — fix: ${fix}`}`);
  }
}

/** Where `command` resolves for a backend (its cwd, its PATH), or undefined. */
export function resolveCommand(backend: Pick<BackendConfig, 'command' | 'cwd' | 'env'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const command = backend.command ?? '';
  if (command === '') return undefined;
  if (command === 'node') return process.execPath; // the gateway's own Node, as connect.ts spawns it
  const executable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/') || isAbsolute(command)) {
    const path = resolve(backend.cwd, command);
    return executable(path) ? path : undefined;
  }
  const path = backend.env.PATH ?? env.PATH ?? '';
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(resolve(backend.cwd, dir), command);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

function checkBackend(report: Report, backend: BackendConfig): void {
  const what = `backend ${backend.name}`;
  if (!backend.enabled) return report.line('skip', what, 'enabled = false');
  if (backend.transport === 'http') return report.line('ok', what, `http ${backend.url ?? ''} (reachability is checked by tools/list below)`);
  if (backend.transport === 'builtin') return report.line('ok', what, 'built in');
  try {
    if (!statSync(backend.cwd).isDirectory()) throw new Error('not a folder');
  } catch {
    return report.line('FAIL', what, `cwd '${backend.cwd}' does not exist`, `create it, or fix cwd in the [[backends]] entry '${backend.name}'`);
  }
  const found = resolveCommand(backend);
  if (found === undefined) {
    return report.line(
      'FAIL',
      what,
      `command '${backend.command ?? ''}' not found${(backend.command ?? '').includes('/') ? '' : ' on PATH'}`,
      `install it, or set command to its full path in the [[backends]] entry '${backend.name}'`,
    );
  }
  report.line('ok', what, `${backend.command ?? ''} → ${found}`);
}

function checkDataDir(report: Report, dataDir: string): void {
  const probe = join(dataDir, `.doctor-${process.pid}`);
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(probe, 'ok');
    rmSync(probe, { force: true });
    report.line('ok', 'data_dir', `${dataDir} is writable`);
  } catch (e) {
    report.line(
      'FAIL',
      'data_dir',
      `${dataDir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      'point [server] data_dir (or --data-dir) at a folder you can write',
    );
  }
}

/** Whether something accepts TCP connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (answer: boolean): void => {
      socket.destroy();
      done(answer);
    };
    socket.setTimeout(2_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function getJson(url: string, token: string | undefined): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: response.status, body: undefined };
  }
}

function authHint(status: number): string {
  if (status === 401) return 'the gateway has [auth] tokens: export STONEGATE_TOKEN=<token>';
  if (status === 403) return 'the token may not do this (an admin token sees every backend), or the Host/Origin is not allowed ([gateway] allowed_hosts)';
  return 'see the gateway log (stonegate serve --log-format pretty)';
}

async function listTools(client: Client): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

interface ServerRow {
  name: string;
  status: string;
  enabled: boolean;
  circuit: string;
  last_error: string | null;
}

/** /health, MCP initialize on /mcp, and a tools/list counted per backend of /server/list. */
async function checkGateway(report: Report, base: string, token: string | undefined, separator: string): Promise<void> {
  let health: Awaited<ReturnType<typeof getJson>>;
  try {
    health = await getJson(`${base}/health`, undefined);
  } catch (e) {
    return report.line('FAIL', '/health', `no answer from ${base} (${(e as Error).message})`, "start it with 'stonegate serve', or pass --url");
  }
  const h = health.body;
  // A standalone coordination server (stonegate coord) rather than a gateway.
  if (h !== undefined && h.name === COORD_SERVER_NAME) return checkCoordServer((...args) => report.line(...args), base, h);
  // A gateway whose database is unusable answers 503 with status "down": still stonegate.
  if ((health.status !== 200 && health.status !== 503) || h === undefined || typeof h.version !== 'string') {
    return report.line(
      'FAIL',
      '/health',
      `${base}/health answered ${health.status} and is not stonegate`,
      'another program holds the port: change [server] port, or pass --url',
    );
  }
  const store = (h.checks as { store?: { status?: string; detail?: string } } | undefined)?.store;
  if (store !== undefined && store.status !== 'ok') {
    report.line(
      store.status === 'down' ? 'FAIL' : 'warn',
      'store',
      String(store.detail),
      "move the file aside or restore it from a backup, then restart (docs/troubleshooting.md, 'The store is corrupt or missing')",
    );
  }
  if (h.status === 'ok') report.line('ok', '/health', `stonegate ${h.version}: ok, ${String(h.backends_healthy)}/${String(h.backends_total)} backends running`);
  else
    report.line(
      'warn',
      '/health',
      `stonegate ${h.version}: ${String(h.status)}, ${String(h.backends_healthy)}/${String(h.backends_total)} backends running, ${String(h.circuits_open)} circuits open`,
      'see the backend lines below, or stonegate status',
    );

  const client = new Client({ name: 'stonegate-doctor', version: VERSION });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp?expose=all`), {
    requestInit: { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
  });
  let tools: Tool[];
  try {
    await client.connect(transport);
    const server = client.getServerVersion();
    report.line('ok', 'MCP initialize', `${base}/mcp: ${server?.name ?? '?'} ${server?.version ?? ''}, protocol ${transport.protocolVersion ?? '?'}`);
    tools = await listTools(client);
  } catch (e) {
    // The SDK's error carries the HTTP status as `code`; the gateway's refusal names its code in the text.
    const message = (e as Error).message;
    const code = (e as { code?: unknown }).code;
    const status = typeof code === 'number' ? code : /\bUNAUTHORIZED\b/.test(message) ? 401 : /\bFORBIDDEN\b/.test(message) ? 403 : 0;
    await client.close().catch(() => undefined);
    return report.line('FAIL', 'MCP initialize', `${base}/mcp: ${message.slice(0, 200)}`, authHint(status));
  }
  await client.close().catch(() => undefined);
  report.line('ok', 'tools/list', `${tools.length} tools (${tools.filter((t) => t.name.startsWith('gate_')).length} gate_* tools)`);

  const list = await getJson(`${base}/server/list`, token).catch((e: Error) => ({ status: 0, body: { error: e.message } as Record<string, unknown> }));
  const servers = list.body?.servers as ServerRow[] | undefined;
  if (list.status !== 200 || servers === undefined) {
    return report.line('FAIL', 'GET /server/list', `answered ${list.status}: ${String(list.body?.error ?? '')}`, authHint(list.status));
  }
  for (const s of servers) {
    const what = `tools/list ${s.name}`;
    const count = tools.filter((t) => t.name.startsWith(`${s.name}${separator}`)).length;
    // enabled = false in the entry, or stopped through the API (kept as enabled = false): an operator's choice, not a failure.
    if (!s.enabled) report.line('skip', what, `disabled (enabled = false, or stopped through the API; stonegate start ${s.name} starts it)`);
    else if (s.status === 'stopped') report.line('FAIL', what, 'backend is stopped', `stonegate start ${s.name}`);
    else if (s.status !== 'running')
      report.line(
        'FAIL',
        what,
        `backend is ${s.status}${s.last_error === null ? '' : `: ${s.last_error}`}`,
        `fix what the error says, then stonegate restart ${s.name}`,
      );
    else if (s.circuit !== 'closed')
      report.line('warn', what, `${count} tools, circuit ${s.circuit}`, `it has been failing; once it is fixed, stonegate reset ${s.name} closes it`);
    else if (count === 0) report.line('warn', what, 'running but lists no tools', 'check that the server registers its tools');
    else report.line('ok', what, `${count} tools`);
  }
}

/** Runs `stonegate doctor`; resolves with the exit code (1 when a check failed). */
export async function runDoctor(options: DoctorOptions): Promise<number> {
  const report = new Report(options.out);
  let config: Config | undefined;
  try {
    config = loadConfig({ file: options.config, explicit: options.explicit, overrides: options.overrides });
    if (config.file === undefined)
      report.line('warn', 'config', 'no stonegate.toml here: the embedded defaults (no backends)', "create one with 'stonegate init', or pass -c FILE");
    else report.line('ok', 'config', `${config.file}: ${config.backends.length} backends`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    report.line('FAIL', 'config', e.message, "fix the key it names; 'stonegate check' validates the file");
  }
  if (config !== undefined) {
    for (const backend of config.backends) checkBackend(report, backend);
    checkDataDir(report, config.server.dataDir);
  }

  // A coordination server's URL may be given with its /coord prefix.
  let base = options.url?.replace(/\/+$/, '').replace(/\/coord$/, '');
  if (base === undefined) {
    const local = localAddress(config);
    const { host, port } = local;
    base = local.base;
    if (!(await listening(host, port))) {
      report.line('ok', 'port', `${host}:${port} is free (no gateway running)`);
      report.line(
        'skip',
        'gateway',
        '/health, MCP initialize and tools/list need a running gateway',
        "start one with 'stonegate serve', then run doctor again",
      );
      return finish(report, options.out);
    }
    report.line('ok', 'port', `${host}:${port} answers; checking it is stonegate`);
  }
  await checkGateway(report, base, options.token, config?.gateway.tool_separator ?? '__');
  return finish(report, options.out);
}

function finish(report: Report, out: (text: string) => void): number {
  out(report.failures === 0 ? 'all checks passed' : `${report.failures} check${report.failures === 1 ? '' : 's'} failed`);
  return report.failures === 0 ? 0 : 1;
}
