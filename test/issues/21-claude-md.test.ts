import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

// #21 item 13: `stonegate init --write-claude-md` writes the coordination
// etiquette into CLAUDE.md and/or AGENTS.md between markers, idempotently;
// `--uninstall` removes exactly what it wrote, leaving the user's own text
// byte for byte as it was.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stonegate-claude-md-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (): ReturnType<typeof runCli> => runCli(['init', '--dir', dir, '--write-claude-md']);
const uninstall = (): ReturnType<typeof runCli> => runCli(['init', '--dir', dir, '--write-claude-md', '--uninstall']);
const read = (name: string): string => readFileSync(join(dir, name), 'utf8');

describe('#21.13 stonegate init --write-claude-md', () => {
  it('creates CLAUDE.md when neither file exists, rewrites nothing on a second run, and --uninstall deletes the file it created', async () => {
    const first = await write();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`created with the coordination etiquette: ${join(dir, 'CLAUDE.md')}`);
    expect(existsSync(join(dir, 'AGENTS.md'))).toBe(false);
    const text = read('CLAUDE.md');
    expect(text).toMatch(/^<!-- stonegate:coordination:begin lead=0 created=yes -->\n## Coordinating with other agents \(stonegate\)\n/);
    expect(text.endsWith('<!-- stonegate:coordination:end -->\n')).toBe(true);
    for (const rule of [
      'Announce before editing',
      'Answer threads',
      'Release claims',
      'Renew leases',
      'Poll with `after`',
      'mux_claim_announce',
      'mux_claim_release',
    ])
      expect(text).toContain(rule);

    const second = await write();
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`coordination etiquette already up to date: ${join(dir, 'CLAUDE.md')}`);
    expect(read('CLAUDE.md')).toBe(text);

    const removed = await uninstall();
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`deleted (init had created it for the etiquette): ${join(dir, 'CLAUDE.md')}\n`);
    expect(existsSync(join(dir, 'CLAUDE.md'))).toBe(false);
  });

  it("writes into both files when both exist and --uninstall leaves the user's text byte-identical, whatever its ending", async () => {
    const endings = {
      'CLAUDE.md': '# My project\r\n\r\nUse pnpm. Ünïcödé — 日本語 😀',
      'AGENTS.md': '# Agents\n\nRun the tests first.\n',
    };
    for (const [name, text] of Object.entries(endings)) writeFileSync(join(dir, name), text);
    const first = await write();
    expect(first.code, first.stderr).toBe(0);
    for (const [name, mine] of Object.entries(endings)) {
      const text = read(name);
      expect(text.startsWith(mine), name).toBe(true);
      // A blank line between the user's text and the block.
      expect(text.slice(mine.length), name).toMatch(/^\n{1,2}<!-- stonegate:coordination:begin lead=[12] created=no -->\n/);
    }
    const installed = { claude: read('CLAUDE.md'), agents: read('AGENTS.md') };
    expect((await write()).code).toBe(0);
    expect({ claude: read('CLAUDE.md'), agents: read('AGENTS.md') }).toEqual(installed);

    const removed = await uninstall();
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`removed the coordination etiquette from ${join(dir, 'CLAUDE.md')}`);
    expect(removed.stdout).toContain(`removed the coordination etiquette from ${join(dir, 'AGENTS.md')}`);
    for (const [name, mine] of Object.entries(endings)) expect(readFileSync(join(dir, name)).equals(Buffer.from(mine)), name).toBe(true);
    // Nothing left to remove: a second uninstall changes nothing.
    expect((await uninstall()).stdout).toContain('no coordination etiquette in');
    for (const [name, mine] of Object.entries(endings)) expect(read(name)).toBe(mine);
  });

  it('writes only AGENTS.md when only it exists, keeps text added after the block, and restores an edited block', async () => {
    const mine = '# Agents\n';
    writeFileSync(join(dir, 'AGENTS.md'), mine);
    expect((await write()).code).toBe(0);
    expect(existsSync(join(dir, 'CLAUDE.md'))).toBe(false);
    const installed = read('AGENTS.md');
    // The user edits inside the block and adds a section after it.
    const later = '\n## Later notes\nKeep these.\n';
    writeFileSync(join(dir, 'AGENTS.md'), installed.replace('Announce before editing', 'Announce whenever') + later);
    const again = await write();
    expect(again.stdout).toContain(`updated the coordination etiquette in ${join(dir, 'AGENTS.md')}`);
    expect(read('AGENTS.md')).toBe(installed + later);
    expect((await uninstall()).code).toBe(0);
    expect(read('AGENTS.md')).toBe(mine + later);
  });

  it('keeps an existing empty CLAUDE.md on --uninstall, and refuses --uninstall alone', async () => {
    writeFileSync(join(dir, 'CLAUDE.md'), '');
    expect((await write()).code).toBe(0);
    expect(read('CLAUDE.md')).toMatch(/^<!-- stonegate:coordination:begin lead=0 created=no -->/);
    expect((await uninstall()).stdout).toContain('removed the coordination etiquette from');
    expect(read('CLAUDE.md')).toBe('');

    const alone = await runCli(['init', '--dir', dir, '--uninstall']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toBe('stonegate: --uninstall goes with --write-claude-md\n');
  });

  it('refuses to remove a block whose end marker is gone, changing nothing', async () => {
    writeFileSync(join(dir, 'CLAUDE.md'), 'mine\n');
    expect((await write()).code).toBe(0);
    const broken = read('CLAUDE.md').replace('<!-- stonegate:coordination:end -->\n', '');
    writeFileSync(join(dir, 'CLAUDE.md'), broken);
    const refused = await uninstall();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the stonegate coordination markers are damaged');
    expect(read('CLAUDE.md')).toBe(broken);
  });
});
