import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO, q, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * `stonegate doctor` on temp folders: a missing backend command and a
 * broken config fail with a hint; a port held by something else is told
 * apart from a free port and from a running stonegate; against a real
 * gateway every check passes and tools/list is counted per backend.
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stonegate-doctor-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
afterAll(stopAll);

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The output line of one check. */
function lineOf(stdout: string, what: string): string {
  return stdout.split('\n').find((line) => line.slice(6).startsWith(`${what} `)) ?? `(no '${what}' line in:\n${stdout})`;
}

describe('stonegate doctor', () => {
  it('fails with a useful hint when a backend command is missing, and still checks the rest', async () => {
    const port = await freePort();
    writeFileSync(
      join(dir, 'stonegate.toml'),
      `[server]\nport = ${port}\ndata_dir = "./data"\n[coordination]\nenabled = false\n` +
        `[[backends]]\nname = "demo"\ncommand = "node"\nargs = [${q(DEMO)}]\n` +
        `[[backends]]\nname = "ghost"\ncommand = "stonegate-no-such-command"\n` +
        `[[backends]]\nname = "local"\ncommand = "./bin/missing-server"\n`,
    );
    const run = await runCli(['doctor'], { cwd: dir });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(lineOf(run.stdout, 'config')).toMatch(/^ok {4}/);
    expect(lineOf(run.stdout, 'backend demo')).toContain(`node → ${process.execPath}`);
    expect(lineOf(run.stdout, 'backend ghost')).toMatch(
      /^FAIL .*command 'stonegate-no-such-command' not found on PATH — fix: install it, or set command to its full path in the \[\[backends\]\] entry 'ghost'$/,
    );
    expect(lineOf(run.stdout, 'backend local')).toMatch(/^FAIL .*command '\.\/bin\/missing-server' not found — fix: /);
    expect(lineOf(run.stdout, 'data_dir')).toMatch(/^ok .* is writable$/);
    expect(lineOf(run.stdout, 'port')).toContain(`127.0.0.1:${port} is free`);
    expect(run.stdout).toMatch(/2 checks failed\n$/);
  });

  it('fails on a config that does not validate, naming the key', async () => {
    writeFileSync(join(dir, 'stonegate.toml'), `[server]\nport = "many"\n`);
    const run = await runCli(['doctor', '-c', join(dir, 'stonegate.toml'), '--url', `http://127.0.0.1:${await freePort()}`]);
    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'config')).toMatch(/^FAIL .*port.* — fix: fix the key it names; 'stonegate check' validates the file$/);
    expect(lineOf(run.stdout, '/health')).toMatch(/^FAIL .*no answer from .* — fix: start it with 'stonegate serve', or pass --url$/);
  });

  it('tells a port held by another program from a running gateway', async () => {
    const other: Server = createServer((_req, res) => res.writeHead(404).end('not here'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = other.address() as AddressInfo;
      writeFileSync(join(dir, 'stonegate.toml'), `[server]\nport = ${port}\ndata_dir = "./data"\n[coordination]\nenabled = false\n`);
      const run = await runCli(['doctor'], { cwd: dir });
      expect(run.code).toBe(1);
      expect(lineOf(run.stdout, '/health')).toMatch(/^FAIL .*answered 404 and is not stonegate — fix: another program holds the port/);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('passes every check against a running gateway and counts tools per backend', async () => {
    const gateway = await startGateway(`[[backends]]\nname = "demo"\ncommand = "node"\nargs = [${q(DEMO)}]\n`);
    await gateway.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const expected = (await gateway.request('GET', '/tools/demo')).body.total as number;
    expect(expected).toBeGreaterThan(0);
    const run = await runCli(['doctor', '-c', join(gateway.dir, 'stonegate.toml'), '--data-dir', join(gateway.dir, 'data'), '--url', gateway.url]);
    expect(run.code, run.stdout).toBe(0);
    expect(lineOf(run.stdout, '/health')).toMatch(/^ok .*: ok, 1\/1 backends running$/);
    expect(lineOf(run.stdout, 'MCP initialize')).toMatch(/^ok .*stonegate .*protocol /);
    expect(lineOf(run.stdout, 'tools/list demo')).toMatch(new RegExp(`^ok +tools/list demo +${expected} tools$`));
    expect(run.stdout).toMatch(/all checks passed\n$/);

    // A backend stopped through the API is kept as enabled = false: skipped, with the way back.
    expect((await gateway.request('POST', '/server/stop', { name: 'demo' })).status).toBe(200);
    const stopped = await runCli(['doctor', '--url', gateway.url], { cwd: dir });
    expect(stopped.code, stopped.stdout).toBe(0);
    expect(lineOf(stopped.stdout, 'tools/list demo')).toMatch(
      /^skip .*disabled \(enabled = false, or stopped through the API; stonegate start demo starts it\)$/,
    );
    await gateway.stop();
  });
  it('with [auth], says which token to set when none is sent, and passes with it', async () => {
    const token = 'doctor-admin-token-58c1e2';
    const gateway = await startGateway(
      `[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "\${DOCTOR_TOKEN}"\n[[backends]]\nname = "demo"\ncommand = "node"\nargs = [${q(DEMO)}]\n`,
      {
        env: { DOCTOR_TOKEN: token },
      },
    );
    await gateway.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const env = { DOCTOR_TOKEN: token, STONEGATE_TOKEN: '' };
    const without = await runCli(['doctor', '-c', join(gateway.dir, 'stonegate.toml'), '--data-dir', join(gateway.dir, 'data'), '--url', gateway.url], { env });
    expect(without.code).toBe(1);
    expect(lineOf(without.stdout, 'MCP initialize')).toMatch(/^FAIL .*UNAUTHORIZED.* — fix: the gateway has \[auth\] tokens: export STONEGATE_TOKEN=<token>$/);
    const withToken = await runCli(['doctor', '-c', join(gateway.dir, 'stonegate.toml'), '--data-dir', join(gateway.dir, 'data'), '--url', gateway.url], {
      env: { ...env, STONEGATE_TOKEN: token },
    });
    expect(withToken.code, withToken.stdout).toBe(0);
    expect(lineOf(withToken.stdout, 'tools/list demo')).toMatch(/^ok .* \d+ tools$/);
    await gateway.stop();
  });
});
