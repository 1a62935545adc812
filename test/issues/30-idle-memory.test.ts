import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, idle RSS: what a gateway does not use, it does not load. jose
// (JWT verification, ~3.5 MB of RSS) is loaded at the first OAuth token to
// verify (src/auth/oauth.ts), so a gateway without [auth.oauth] never loads
// it; test/issues/26-oauth*.test.ts hold the OAuth behaviour unchanged.

afterAll(stopAll);

describe('#30 idle memory', () => {
  it('loads no jose in a gateway without [auth.oauth]', async () => {
    const log = join(tmpdir(), `stonegate-load-watch-${process.pid}.log`);
    writeFileSync(log, '');
    const gw = await startGateway(demoBackend(), { env: { STONEGATE_LOAD_LOG: log, NODE_OPTIONS: `--import ${fixture('load-watch')}` } });
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    expect((await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'hi' } })).status).toBe(200);
    expect((await gw.request('GET', '/health')).status).toBe(200);
    const loaded = readFileSync(log, 'utf8').split('\n');
    // The watch is armed: the SDK and the gateway's own modules are in the log.
    expect(loaded.some((url) => url.includes('@modelcontextprotocol/server'))).toBe(true);
    expect(loaded.filter((url) => url.includes('/node_modules/jose/'))).toEqual([]);
  });
});
