import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// #19 item 1: a DNS-rebinding page. The attacker's name (for example
// 127.0.0.1.attacker.example) is rebound to 127.0.0.1, so the browser sends
// Host: and Origin: with that name to the gateway, same-origin from its point
// of view, with a JSON body. In the default configuration (no tokens) the
// gateway must refuse it before anything is spawned.

interface Answer {
  status: number;
  body: string;
}

function send(gw: RunningGateway, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A runtime add whose command writes `marker` when it runs: proof of a spawn. */
function addThatWrites(name: string, marker: string): string {
  return JSON.stringify({ name, command: process.execPath, args: ['-e', "require('node:fs').writeFileSync(process.argv[1], 'spawned')", marker] });
}

const REBOUND = ['127.0.0.1.attacker.example', '127.0.0.1.example', '127.1', '2130706433', '0x7f.1', '0177.0.0.1', '127.0.0.1.', 'localhost.attacker.example'];

describe('#19.1 DNS rebinding against the Host/Origin guard', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway('# the default: no [auth] tokens, runtime adds allowed\n');
  });
  afterAll(stopAll);

  it('refuses POST /server/add when Host and Origin both name a rebound host, and spawns nothing', async () => {
    for (const [i, name] of REBOUND.entries()) {
      const marker = join(gw.dir, `rebound-${i}`);
      const port = new URL(gw.url).port;
      const answer = await send(
        gw,
        '/server/add',
        { host: `${name}:${port}`, origin: `http://${name}:${port}`, 'content-type': 'application/json' },
        addThatWrites(`evil${i}`, marker),
      );
      expect(answer.status, name).toBe(403);
      expect(JSON.parse(answer.body).code, name).toBe('FORBIDDEN');
      expect(existsSync(marker), name).toBe(false);
    }
    const list = JSON.parse((await send(gw, '/server/list', {})).body) as { servers: { name: string }[] };
    expect(list.servers.map((s) => s.name).filter((n) => n.startsWith('evil'))).toEqual([]);
  });

  it('refuses each rebound spelling in Host alone and in Origin alone', async () => {
    const port = new URL(gw.url).port;
    for (const name of REBOUND) {
      expect((await send(gw, '/tools', { host: `${name}:${port}` })).status, `Host ${name}`).toBe(403);
      expect((await send(gw, '/tools', { origin: `http://${name}:${port}` })).status, `Origin ${name}`).toBe(403);
    }
  });

  it('accepts the loopback spellings in Host and Origin', async () => {
    const port = new URL(gw.url).port;
    for (const name of ['127.0.0.1', '127.0.0.2', 'localhost', 'app.localhost', '[::1]']) {
      expect((await send(gw, '/tools', { host: `${name}:${port}` })).status, `Host ${name}`).toBe(200);
      expect((await send(gw, '/tools', { origin: `http://${name}:${port}` })).status, `Origin ${name}`).toBe(200);
    }
    // How a browser writes an IPv4-mapped origin, and how a person might.
    for (const name of ['[::ffff:7f00:1]', '[::ffff:127.0.0.1]']) {
      expect((await send(gw, '/tools', { origin: `http://${name}:${port}` })).status, `Origin ${name}`).toBe(200);
    }
  });

  it('a loopback Host does reach the add (the marker proves a spawn, so the refusal above is what stopped it)', async () => {
    const marker = join(gw.dir, 'loopback-marker');
    await send(gw, '/server/add', { host: `127.0.0.1:${new URL(gw.url).port}`, 'content-type': 'application/json' }, addThatWrites('local', marker));
    expect(existsSync(marker)).toBe(true);
  });
});
