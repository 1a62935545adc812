import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/harness.js';

/*
 * Issue #19 item 22: `npm ci` on Node 20 printed EBADENGINE for
 * @modelcontextprotocol/inspector (wants Node >= 22.7.5) and pipenet (wants
 * >= 22, pulled by mcp-proxy > 6.2.0). npm warns for every installed,
 * non-optional package whose `engines.node` the running Node does not
 * satisfy; the lock file records both, so this checks what `npm ci` checks.
 */

interface LockEntry {
  engines?: { node?: string };
  optional?: boolean;
}

// semver is npm's own range grammar; it is installed with the dev tools (vite, …).
const semver = createRequire(import.meta.url)('semver') as { satisfies(version: string, range: string): boolean };

describe('npm ci on Node 20 prints no engine warning (issue #19 item 22)', () => {
  it('every package of the lock that npm installs accepts this Node', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const refused = Object.entries(lock.packages)
      .filter(([, entry]) => entry.optional !== true && entry.engines?.node !== undefined && !semver.satisfies(process.version, entry.engines.node))
      .map(([path, entry]) => `${path} wants node ${entry.engines?.node}`);
    expect(refused).toEqual([]);
  });

  it('the package itself still says Node >= 20', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(semver.satisfies('20.5.0', pkg.engines.node)).toBe(true);
  });
});
