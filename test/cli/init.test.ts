import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

/*
 * `stonegate init` on temp folders: the starter config is written once and
 * validates, its data_dir exists, the printed client configs point at the
 * config's URL, and --write-mcp-config merges into an .mcp.json without
 * touching the other entries (and refuses a file that is not JSON).
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stonegate-init-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The JSON blocks of init's output, in order. */
function jsonBlocks(text: string): Record<string, unknown>[] {
  return [...text.matchAll(/^\{\n[\s\S]*?\n\}$/gm)].map((m) => JSON.parse(m[0]) as Record<string, unknown>);
}

describe('stonegate init', () => {
  it('writes a starter config that validates, creates data_dir and prints client configs', async () => {
    const run = await runCli(['init', '--dir', join(dir, 'project')]);
    expect(run.code, run.stderr).toBe(0);
    const file = join(dir, 'project', 'stonegate.toml');
    expect(run.stdout).toContain(`wrote ${file}`);
    expect(existsSync(join(dir, 'project', '.stonegate'))).toBe(true);
    const toml = readFileSync(file, 'utf8');
    expect(toml).toMatch(/^port = 3393\s+# /m); // commented
    const check = await runCli(['check', '-c', file]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('- demo (stdio)');

    const [claude, cursor, stdio] = jsonBlocks(run.stdout);
    expect(claude).toEqual({ mcpServers: { stonegate: { type: 'http', url: 'http://127.0.0.1:3393/mcp' } } });
    expect(cursor).toEqual({ mcpServers: { stonegate: { url: 'http://127.0.0.1:3393/mcp' } } });
    expect(stdio).toEqual({ mcpServers: { stonegate: { command: 'npx', args: ['stonegate', 'serve', '--stdio', '-c', file] } } });
    expect(run.stdout).toContain('claude mcp add --transport http stonegate http://127.0.0.1:3393/mcp');
  });

  it("never overwrites an existing config, says so, and prints that config's URL", async () => {
    const file = join(dir, 'stonegate.toml');
    const mine = '[server]\nport = 4411\ndata_dir = "./state"\n[coordination]\nenabled = false\n';
    writeFileSync(file, mine);
    const run = await runCli(['init'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('already exists — left as it is');
    expect(readFileSync(file, 'utf8')).toBe(mine);
    expect(existsSync(join(dir, 'state'))).toBe(true);
    expect(jsonBlocks(run.stdout)[0]).toEqual({ mcpServers: { stonegate: { type: 'http', url: 'http://127.0.0.1:4411/mcp' } } });
  });

  it('adds an Authorization header to the entries when the config has tokens', async () => {
    writeFileSync(join(dir, 'stonegate.toml'), `[[auth.tokens]]\nname = "me"\nrole = "admin"\nhash = "sha256:${'a'.repeat(64)}"\n`);
    const run = await runCli(['init', '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(jsonBlocks(run.stdout)[0]).toEqual({
      mcpServers: { stonegate: { type: 'http', url: 'http://127.0.0.1:3393/mcp', headers: { Authorization: 'Bearer ${STONEGATE_TOKEN}' } } },
    });
  });

  it('--write-mcp-config merges the stonegate entry and keeps every other entry', async () => {
    const mcp = join(dir, '.mcp.json');
    const other = { command: 'uvx', args: ['other-server'], env: { KEY: 'v' } };
    writeFileSync(mcp, JSON.stringify({ mcpServers: { other, stonegate: { url: 'http://old/mcp' } }, extra: [1, 2] }, null, 2));
    const run = await runCli(['init', '--dir', dir, '--write-mcp-config', mcp]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`updated the stonegate server in ${mcp}`);
    expect(JSON.parse(readFileSync(mcp, 'utf8'))).toEqual({
      mcpServers: { other, stonegate: { type: 'http', url: 'http://127.0.0.1:3393/mcp' } },
      extra: [1, 2],
    });
    const again = await runCli(['init', '--dir', dir, '--write-mcp-config', mcp]);
    expect(again.stdout).toContain(`already up to date: ${mcp}`);

    const fresh = join(dir, 'sub', '.mcp.json');
    const created = await runCli(['init', '--dir', dir, '--write-mcp-config', fresh]);
    expect(created.stdout).toContain(`created ${fresh}`);
    expect(JSON.parse(readFileSync(fresh, 'utf8'))).toEqual({ mcpServers: { stonegate: { type: 'http', url: 'http://127.0.0.1:3393/mcp' } } });
  });

  it('--write-mcp-config leaves a file that is not JSON as it is and exits 2', async () => {
    const mcp = join(dir, '.mcp.json');
    writeFileSync(mcp, '{ "mcpServers": { oops');
    const run = await runCli(['init', '--dir', dir, '--write-mcp-config', mcp]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not valid JSON');
    expect(readFileSync(mcp, 'utf8')).toBe('{ "mcpServers": { oops');
  });
});
