import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { demoBackend, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

// Issue #19, item 21: a config written from the seed documents has a
// [license] table, and a typo in a key was refused with a bare "unknown
// key". Tried as a new user would: `stonegate check` and `stonegate serve`
// on such files, and a runtime add with a mistyped key.

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterAll(stopAll);

function configFile(toml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-19-config-'));
  dirs.push(dir);
  const file = join(dir, 'stonegate.toml');
  writeFileSync(file, toml);
  return file;
}

describe('issue 19.21: unknown config keys', () => {
  it('a [license] table is refused with a sentence saying licensing is not part of stonegate and the table can be deleted', async () => {
    const file = configFile(`[server]\nport = 3393\n\n[license]\nkey = "XXXX-XXXX"\ntier = "team"\n`);
    for (const command of ['check', 'serve']) {
      const run = await runCli([command, '-c', file, '--data-dir', join(file, '..', 'data')]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("unknown key 'license': licensing is not part of stonegate");
      expect(run.stderr).toContain('delete the [license] table');
      // The license key itself is not echoed back.
      expect(run.stderr).not.toContain('XXXX-XXXX');
    }
  });

  it('a mistyped key in a section, at the top level and in a backend entry names the nearest key', async () => {
    const file = configFile(
      `[gateway]\nrequst_timeout = 5000\n\n[logging]\nlevle = "debug"\n\n[servr]\nport = 1\n\n[[backends]]\nname = "x"\ncomand = "node"\n`,
    );
    const run = await runCli(['check', '-c', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("gateway: unknown key 'requst_timeout' (did you mean 'request_timeout'?)");
    expect(run.stderr).toContain("logging: unknown key 'levle' (did you mean 'level'?)");
    expect(run.stderr).toContain("unknown key 'servr' (did you mean 'server'?)");
    expect(run.stderr).toContain("backends[0]: unknown key 'comand' (did you mean 'command'?)");
  });

  it('a key far from every known one gets no guess', async () => {
    const file = configFile(`[gateway]\nzzzzzz = 1\n`);
    const run = await runCli(['check', '-c', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("gateway: unknown key 'zzzzzz'");
    expect(run.stderr).not.toContain('did you mean');
  });

  it('POST /server/add with a mistyped key names the nearest key', async () => {
    const gw = await startGateway(demoBackend());
    const { status, body } = await gw.request('POST', '/server/add', { name: 'extra', comand: 'node' });
    expect(status).toBe(400);
    expect(body.code).toBe('BAD_REQUEST');
    expect(body.error).toContain("unknown key 'comand' (did you mean 'command'?)");
  });
});
