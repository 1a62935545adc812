import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { fixture, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// #21 item 13: /livez and /readyz on the gateway, /coord/livez and
// /coord/readyz on the gateway and the standalone server. They need no token
// (they reveal nothing) but keep the Host/Origin (loopback) guard; /readyz is
// 503 until the stores answer and every enabled backend has started.

const ADMIN = 'probes-admin-secret-0001';
const AGENT = 'probes-agent-secret-0002';
const ENV = { env: { PROBES_ADMIN: ADMIN, PROBES_AGENT: AGENT } };
const PROBES = ['/livez', '/readyz', '/coord/livez', '/coord/readyz'];

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** A GET with the headers given as they are (node:http, so Host can be set). */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  await stopCoords();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tokens(): string {
  return '[auth]\n[[auth.tokens]]\nname = "root"\nrole = "admin"\ntoken = "${PROBES_ADMIN}"\n\n[[auth.tokens]]\nname = "bot"\ntoken = "${PROBES_AGENT}"\n';
}

describe('#21.13 probes on the gateway, with tokens', () => {
  let gw: RunningGateway;

  it('answers every probe without a token, while other routes need one', async () => {
    gw = await startGateway(coordToml({}, tokens()), ENV);
    await coordReady(gw);
    for (const path of PROBES) {
      const answer = await get(gw.url, path);
      expect(answer.status, path).toBe(200);
      expect(answer.body.status, path).toBe(path.endsWith('livez') ? 'live' : 'ready');
    }
    expect((await get(gw.url, '/tools')).status).toBe(401);
    expect((await get(gw.url, '/coord/stats')).status).toBe(401);
  });

  it('keeps the loopback guard: a foreign Host or Origin is refused on every probe', async () => {
    const port = new URL(gw.url).port;
    for (const path of PROBES) {
      const host = await get(gw.url, path, { host: `127.0.0.1.attacker.example:${port}` });
      expect(host.status, path).toBe(403);
      expect(host.body.code, path).toBe('FORBIDDEN');
      expect((await get(gw.url, path, { origin: 'http://attacker.example' })).status, path).toBe(403);
      expect((await get(gw.url, path, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status, path).toBe(200);
    }
  });
});

describe('#21.13 /readyz waits for the configured backends', () => {
  it('is 503 while a backend has not started (live all the while), 200 once it no longer counts', async () => {
    const gw = await startGateway(
      `${coordToml({}, tokens())}
[[backends]]
name = "mute"
command = "node"
args = ["${fixture('no-init-server').replaceAll('\\', '\\\\')}"]
start_timeout = 600000
`,
      ENV,
    );
    await coordReady(gw);
    const waiting = await get(gw.url, '/readyz');
    expect(waiting.status).toBe(503);
    expect(waiting.body).toEqual({
      status: 'not_ready',
      reason: '1 of 2 enabled backends not started; GET /server/list (admin) shows which and why.',
    });
    expect((await get(gw.url, '/livez')).status).toBe(200);
    // The coordination store answers: coord's own readiness does not depend on other backends.
    expect((await get(gw.url, '/coord/readyz')).status).toBe(200);
    const stop = await fetch(`${gw.url}/server/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'mute' }),
    });
    expect(stop.status).toBe(200);
    expect(await get(gw.url, '/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
  });
});

describe('#21.13 probes on the standalone server', () => {
  it('answers /coord/livez and /coord/readyz, and readyz is 503 once the store file is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-probes-'));
    dirs.push(dir);
    const db = join(dir, 'coord.db');
    const coord = await startCoord(db);
    expect(await coord.get('/livez')).toEqual({ status: 200, body: { status: 'live' } });
    expect(await coord.get('/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
    // Bound to loopback, its REST routes (probes included) keep the loopback guard, as /mcp does.
    const port = new URL(coord.url).port;
    for (const path of ['/coord/livez', '/coord/readyz', '/coord/stats']) {
      const host = await get(coord.url, path, { host: `127.0.0.1.attacker.example:${port}` });
      expect(host.status, path).toBe(403);
      expect(host.body.code, path).toBe('FORBIDDEN');
      expect((await get(coord.url, path, { origin: 'http://attacker.example' })).status, path).toBe(403);
      expect((await get(coord.url, path, { host: `localhost:${port}` })).status, path).toBe(200);
    }
    rmSync(db);
    const gone = await coord.get('/readyz');
    expect(gone.status).toBe(503);
    expect(gone.body).toEqual({ status: 'not_ready', reason: 'The coordination store does not answer; GET /coord/health says why.' });
    expect(await coord.get('/livez')).toEqual({ status: 200, body: { status: 'live' } });
  });
});
