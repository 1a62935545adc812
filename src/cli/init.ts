import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { runEtiquette } from './coord-etiquette.js';
import { localAddress } from './local-address.js';
import { UsageError } from './remote.js';

/*
 * `stonegate init`: a commented starter stonegate.toml (never over an
 * existing one), its data_dir, and the MCP client entries to paste into
 * Claude Code, Cursor or any other client — or, with --write-mcp-config,
 * merged into an .mcp.json without touching its other servers; with
 * --write-claude-md, the coordination etiquette in CLAUDE.md / AGENTS.md.
 */

export interface InitOptions {
  /** Folder for stonegate.toml (default: the working folder). */
  dir?: string;
  /** An .mcp.json to add (or update) the `stonegate` server in. */
  writeMcpConfig?: string;
  /** Write the coordination etiquette into CLAUDE.md / AGENTS.md of `dir` (coord-etiquette.ts). */
  writeClaudeMd?: boolean;
  /** With writeClaudeMd: remove it instead, and do nothing else. */
  uninstall?: boolean;
  out: (text: string) => void;
}

/** The demo backend shipped with this install, so the starter config runs as written. */
const DEMO_SERVER = fileURLToPath(new URL('../../backends/demo/server.js', import.meta.url));

/** The starter config: the keys people change first, each with a comment; `stonegate check` validates it. */
export function starterToml(): string {
  return `# stonegate.toml — written by \`stonegate init\`. Every key not shown keeps its
# default; docs/configuration.md in the stonegate repository lists them all.
# Validate with \`stonegate check\`, diagnose with \`stonegate doctor\`.

[server]
host = "127.0.0.1"            # loopback only; a public address needs [auth] tokens
port = 3393                   # agents connect to http://127.0.0.1:3393/mcp
data_dir = "./.stonegate"     # databases, runtime-added backends, audit log (relative to this file)

[gateway]
request_timeout = 30000       # ms a tool call may take (per backend: timeout)
expose = "all"                # "all": every backend's tools + gate_* tools; "meta": gate_* tools only

[logging]
level = "info"                # trace, debug, info, warn, error
format = "pretty"             # pretty for people, json for log collectors

# The built-in coordination backend (coord__mux_* tools, REST under /coord).
[coordination]
enabled = true

# Bearer tokens (none: every route is open, loopback only). Uncomment to require one:
# [[auth.tokens]]
# name = "me"
# role = "admin"                # admin may use /server/*, /config, /log and the dashboard's buttons
# token = "\${STONEGATE_TOKEN}"  # read from the environment; never write a token here

# One [[backends]] entry per MCP server. A small demo server to start with:
[[backends]]
name = "demo"
command = "node"              # "node" is the Node that runs the gateway
args = [${JSON.stringify(DEMO_SERVER)}]

# A stdio server from npm (uncomment; needs network for npx the first time):
# [[backends]]
# name = "filesystem"
# command = "npx"
# args = ["-y", "@modelcontextprotocol/server-filesystem", "."]

# A remote MCP server over Streamable HTTP:
# [[backends]]
# name = "remote"
# transport = "http"
# url = "https://example.com/mcp"
# headers = { Authorization = "Bearer \${REMOTE_TOKEN}" }
`;
}

/** The gateway's MCP URL as a client on this machine reaches it. */
export function mcpUrl(config: Config): string {
  return `${localAddress(config).base}/mcp`;
}

/** The `stonegate` entry of an .mcp.json (Claude Code: type http; a header when [auth] has tokens). */
export function mcpEntry(config: Config): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: 'http', url: mcpUrl(config) };
  if (config.auth.tokens.length > 0) entry.headers = { Authorization: 'Bearer ${STONEGATE_TOKEN}' };
  return entry;
}

function clientConfigs(config: Config, file: string): string {
  const url = mcpUrl(config);
  const entry = mcpEntry(config);
  const { type: _type, ...cursor } = entry;
  const auth = config.auth.tokens.length > 0;
  const json = (value: unknown): string => JSON.stringify({ mcpServers: { stonegate: value } }, null, 2);
  return [
    'Claude Code — .mcp.json in your project (or: stonegate init --write-mcp-config .mcp.json):',
    json(entry),
    `  or: claude mcp add --transport http stonegate ${url}${auth ? ' --header "Authorization: Bearer $STONEGATE_TOKEN"' : ''}`,
    '',
    'Cursor — .cursor/mcp.json in your project, or ~/.cursor/mcp.json:',
    json(cursor),
    '',
    `Any other MCP client: Streamable HTTP at ${url}${auth ? ' with Authorization: Bearer <token>' : ''}`,
    'A client that only launches stdio servers:',
    json({ command: 'npx', args: ['stonegate', 'serve', '--stdio', '-c', file] }),
  ].join('\n');
}

/**
 * Merges the `stonegate` server into an MCP client config file: other
 * entries and keys stay as they are; a file that is not a JSON object is
 * refused rather than replaced. Written through a temp file and a rename.
 */
export function mergeMcpConfig(path: string, entry: Record<string, unknown>): 'created' | 'added' | 'updated' | 'unchanged' {
  let doc: Record<string, unknown> = {};
  const exists = existsSync(path);
  if (exists) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UsageError(`${path} is not valid JSON (${(e as Error).message}); fix it or pick another file — it was left as it is`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new UsageError(`${path} does not hold a JSON object; it was left as it is`);
    doc = parsed as Record<string, unknown>;
  }
  const servers = doc.mcpServers ?? {};
  if (servers === null || typeof servers !== 'object' || Array.isArray(servers))
    throw new UsageError(`${path}: mcpServers is not an object; it was left as it is`);
  const before = (servers as Record<string, unknown>).stonegate;
  if (JSON.stringify(before) === JSON.stringify(entry)) return 'unchanged';
  doc.mcpServers = { ...(servers as Record<string, unknown>), stonegate: entry };
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(temp, path);
  if (!exists) return 'created';
  return before === undefined ? 'added' : 'updated';
}

/** Runs `stonegate init`; resolves with the exit code. */
export function runInit(options: InitOptions): number {
  const { out } = options;
  const dir = resolve(options.dir ?? '.');
  if (options.writeClaudeMd === true && options.uninstall === true) {
    runEtiquette(dir, true, out);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'stonegate.toml');
  if (existsSync(file)) {
    out(`${file} already exists — left as it is (init never overwrites a config; delete it first to start over)`);
  } else {
    writeFileSync(file, starterToml(), { flag: 'wx' });
    out(`wrote ${file}`);
  }
  // The config as it now is (the starter, or the one that was there), so data_dir and the URL are its own.
  const config = loadConfig({ file, explicit: true });
  mkdirSync(config.server.dataDir, { recursive: true });
  out(`data_dir ${config.server.dataDir} is ready`);
  if (options.writeMcpConfig !== undefined) {
    const target = resolve(options.writeMcpConfig);
    const outcome = mergeMcpConfig(target, mcpEntry(config));
    const said = { created: 'created', added: 'added the stonegate server to', updated: 'updated the stonegate server in', unchanged: 'already up to date:' }[
      outcome
    ];
    out(`${said} ${target}`);
  }
  if (options.writeClaudeMd === true) runEtiquette(dir, false, out);
  out('');
  out(clientConfigs(config, file));
  out('');
  out(`Next: stonegate serve -c ${file}   (then open ${mcpUrl(config).replace(/\/mcp$/, '/ui')} for the dashboard, or run stonegate doctor -c ${file})`);
  return 0;
}
