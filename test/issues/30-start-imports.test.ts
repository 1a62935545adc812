import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, fixture, ROOT, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, start-up imports ([speed]): a start imports what it uses. The
// built-in coordination backend's server, REST routes and store
// (src/builtins/coord-mount.ts) are imported when a config mounts coord, not
// by the config's schema, so a gateway with [coordination] enabled = false
// and every command that reads a config go without them; the gateway's own
// modules (the MCP SDK's server, the HTTP server, the metrics) are imported
// by `serve` only: `check`, `auth`, `doctor` and the commands that talk to a
// running gateway read the config and use HTTP. test/fixtures/load-watch.ts
// notes every module the process loads.

afterAll(stopAll);

const dir = mkdtempSync(join(tmpdir(), 'stonegate-start-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh, empty load log and the environment that arms the watch in a stonegate process. */
function watch(name: string, command = 'serve'): { log: string; env: Record<string, string> } {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  return { log, env: { STONEGATE_LOAD_LOG: log, STONEGATE_LOAD_COMMAND: command, NODE_OPTIONS: `--import ${fixture('load-watch')}` } };
}

/** The modules of this checkout's dist/ in a load log, as paths under dist/ (`src/gateway/gateway.js`). */
function ownModules(log: string): string[] {
  const prefix = `${pathToFileURL(join(ROOT, 'dist')).href}/`;
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((url) => url.startsWith(prefix))
    .map((url) => url.slice(prefix.length));
}

const COORD_MODULES = ['src/builtins/coord-mount.js', 'backends/coord/server.js', 'backends/coord/rest.js', 'backends/coord/sqlite-store.js'];

describe('#30 start-up imports', () => {
  it('serves without [coordination] without importing coord’s server, routes or store', async () => {
    const { log, env } = watch('no-coord');
    const gw = await startGateway('[coordination]\nenabled = false\n', { env });
    expect((await gw.request('GET', '/health')).status).toBe(200);
    const loaded = ownModules(log);
    // The watch is armed: the gateway's own modules and the coord options of the config schema are in the log.
    expect(loaded).toContain('src/gateway/gateway.js');
    expect(loaded).toContain('backends/coord/options.js');
    expect(loaded.filter((path) => COORD_MODULES.includes(path))).toEqual([]);
  });

  it('imports them with [coordination] enabled, and serves coord', async () => {
    const { log, env } = watch('coord');
    const gw = await startGateway('[coordination]\nenabled = true\n', { env });
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'coord');
    expect((await gw.request('GET', '/coord/livez')).body).toEqual({ status: 'live' });
    expect(ownModules(log)).toEqual(expect.arrayContaining(COORD_MODULES));
  });

  it('imports none of the gateway’s modules for a command other than serve', () => {
    const config = join(dir, 'check.toml');
    writeFileSync(config, '[coordination]\nenabled = true\n');
    const { log, env } = watch('check', 'check');
    const run = spawnSync(process.execPath, [BIN, 'check', '-c', config], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const loaded = ownModules(log);
    expect(loaded).toContain('src/config/load.js');
    expect(loaded.filter((path) => path.startsWith('src/gateway/') || path.startsWith('src/http/') || COORD_MODULES.includes(path))).toEqual([]);
    expect(readFileSync(log, 'utf8')).not.toContain('/@modelcontextprotocol/server/');
  });
});
