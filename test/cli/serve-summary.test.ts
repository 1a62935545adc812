import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, DEMO, q, ROOT } from '../helpers/harness.js';

/*
 * `stonegate serve --log-format pretty` tells people where to connect and
 * how each backend came up: the URL, the dashboard, one line per backend
 * (its tool count, or why it failed), then a ready line.
 */

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('serve start summary', () => {
  it('prints the URL, each backend as it comes up or fails, and a ready line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'stonegate-summary-'));
    const config = join(dir, 'stonegate.toml');
    writeFileSync(
      config,
      `[coordination]\nenabled = false\n[[backends]]\nname = "demo"\ncommand = "node"\nargs = [${q(DEMO)}]\n` +
        `[[backends]]\nname = "ghost"\ncommand = "stonegate-no-such-command"\n`,
    );
    const proc = spawn(process.execPath, [BIN, 'serve', '-c', config, '--port', '0', '--data-dir', join(dir, 'data'), '--log-format', 'pretty'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    const lines: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; output:\n${lines.join('\n')}`)), 25_000);
        createInterface({ input: proc.stdout }).on('line', (line) => {
          lines.push(line);
          if (line.startsWith('ready: ')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
    const summary = lines.filter((l) => !l.startsWith('[') && !l.startsWith('    '));
    const url = /^stonegate \S+ listening on (http:\/\/127\.0\.0\.1:\d+)\/mcp$/.exec(summary[0] ?? '')?.[1];
    expect(url, summary.join('\n')).toBeDefined();
    expect(summary[1]).toBe(`  dashboard  ${url}/ui`);
    expect(summary[2]).toBe('  backends   2 starting: demo, ghost');
    expect(summary.find((l) => l.includes('✓ demo'))).toMatch(/^ {2}✓ demo +running, 11 tools \(\d+\.\d s\)$/);
    expect(summary.find((l) => l.includes('✗ ghost'))).toMatch(/^ {2}✗ ghost +failed: .*command 'stonegate-no-such-command' not found/);
    expect(summary.at(-1)).toBe(`ready: 1/2 backends running, 11 tools — point agents at ${url}/mcp (Ctrl-C stops)`);
  });
});
