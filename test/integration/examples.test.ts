import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * examples/ stays true: the curl walkthrough (every REST route) and the
 * two-agent script run to success against a real gateway with the shipped
 * backends and coord, and the client configs are what `stonegate init`
 * prints.
 */

const run = promisify(execFile);
const examples = join(ROOT, 'examples');
let gateway: RunningGateway;

beforeAll(async () => {
  gateway = await startGateway(`
[coordination]
enabled = true

${demoBackend()}

[[backends]]
name = "filesystem"
command = "node"
args = [${q(join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js'))}, ${q(examples)}]

[[backends]]
name = "memory"
command = "node"
args = [${q(join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js'))}]
env = { MEMORY_FILE_PATH = "\${STONEGATE_DATA_DIR}/memory.jsonl" }
`);
  for (const name of ['demo', 'filesystem', 'memory', 'coord']) await gateway.waitForLog((l) => l.msg === 'backend ready' && l.backend === name, 30_000);
}, 60_000);
afterAll(stopAll);

describe('examples/', () => {
  it('curl-walkthrough.sh answers on every REST route', async () => {
    const { stdout } = await run('bash', [join(examples, 'curl-walkthrough.sh')], {
      cwd: ROOT,
      env: { ...process.env, STONEGATE_URL: gateway.url },
      timeout: 120_000,
    });
    expect(stdout).toContain('Done: every route answered.');
    expect(stdout).toContain('hello through stonegate');
    expect(stdout).toMatch(/"code":"UNKNOWN_TOOL"[\s\S]*HTTP 404/);
    // Every route of src/http/rest.ts and src/http/ui.ts has its step.
    const sources = readFileSync(join(ROOT, 'src/http/rest.ts'), 'utf8') + readFileSync(join(ROOT, 'src/http/ui.ts'), 'utf8');
    const routes = [...sources.matchAll(/\bapp\.(get|post|delete)\(\s*'([^']+)'/g)].map(
      (m) => `${(m[1] ?? '').toUpperCase()} ${(m[2] ?? '').replace(/:(\w+)/g, '{$1}')}`,
    );
    const script = readFileSync(join(examples, 'curl-walkthrough.sh'), 'utf8');
    const missing = routes.filter((route) => {
      const [method, path = ''] = route.split(' ');
      const bare = path.replace(/\/\{[^}]+\}$/, '');
      return !script.includes(route) && !(method === 'POST' && script.includes(`post ${bare}`)) && !script.includes(`${method} ${bare}`);
    });
    expect(missing).toEqual([]);
    expect((await gateway.request('GET', '/server/list')).body.servers).toHaveLength(4); // the added backend is gone again
  }, 150_000);

  it('two-agents.mjs: the agents coordinate through the gateway and share its tools', async () => {
    const { stdout } = await run(process.execPath, [join(examples, 'two-agents.mjs')], {
      cwd: ROOT,
      env: { ...process.env, STONEGATE_URL: gateway.url },
      timeout: 90_000,
    });
    expect(stdout).toContain('gate_discover picked add of backend demo');
    expect(stdout).toContain('ok: the agents agree, 19 + 23 = 42');
    const log = (await gateway.request('GET', '/log?limit=200')).body.calls as { agent: string | null; server: string; tool: string }[];
    const agents = new Set(log.filter((c) => c.server === 'coord').map((c) => c.agent?.split('-')[0]));
    expect([...agents].sort()).toEqual(['planner', 'worker']);
    expect(log.some((c) => c.server === 'demo' && c.tool === 'add' && c.agent?.startsWith('worker-'))).toBe(true);
  }, 120_000);

  it('the Claude Code and Cursor configs are what stonegate init prints', async () => {
    const init = await runCli(['init', '--dir', join(gateway.dir, 'init')]);
    expect(init.code, init.stderr).toBe(0);
    const blocks = [...init.stdout.matchAll(/^\{\n[\s\S]*?\n\}$/gm)].map((m) => JSON.parse(m[0]) as unknown);
    const file = (path: string): unknown => JSON.parse(readFileSync(join(examples, path), 'utf8'));
    expect(file('claude-code/.mcp.json')).toEqual(blocks[0]);
    expect(file('cursor/mcp.json')).toEqual(blocks[1]);
    const withToken = file('claude-code/.mcp.with-token.json') as { mcpServers: { stonegate: { headers: Record<string, string> } } };
    expect(withToken.mcpServers.stonegate.headers).toEqual({ Authorization: 'Bearer ${STONEGATE_TOKEN}' });
  });
});
