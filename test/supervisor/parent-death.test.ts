import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parentDeathSignal, withParentDeathSignal } from '../../src/supervisor/parent-death.js';

const dir = mkdtempSync(join(tmpdir(), 'stonegate-pdeathsig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Only where setpriv --pdeathsig is available (the CI image has util-linux);
// elsewhere the command is passed through untouched, which the last test checks.
describe.skipIf(!parentDeathSignal())('withParentDeathSignal with setpriv', () => {
  it('runs the command through setpriv --pdeathsig SIGKILL, resolved on the child PATH or against cwd', () => {
    const script = join(dir, 'tool.sh');
    writeFileSync(script, '#!/bin/sh\n');
    chmodSync(script, 0o755);
    const byName = withParentDeathSignal('tool.sh', ['a'], '/', { PATH: `/nonexistent:${dir}` });
    expect(byName.command).toMatch(/setpriv$/);
    expect(byName.args).toEqual(['--pdeathsig', 'SIGKILL', '--', script, 'a']);
    expect(withParentDeathSignal('./tool.sh', [], dir, {}).args.at(-1)).toBe(script);
  });

  it('throws ENOENT for a missing command and EACCES for one that is not executable, as spawn would', () => {
    expect(() => withParentDeathSignal('stonegate-no-such-command', [], dir, { PATH: dir })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'not a program');
    chmodSync(plain, 0o644);
    expect(() => withParentDeathSignal(plain, [], dir, {})).toThrow(expect.objectContaining({ code: 'EACCES' }));
  });
});

describe.skipIf(parentDeathSignal())('withParentDeathSignal without setpriv', () => {
  it('passes the command through', () => {
    expect(withParentDeathSignal('node', ['x'], dir, {})).toEqual({ command: 'node', args: ['x'] });
  });
});
