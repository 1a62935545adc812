import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningCoord, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';

/*
 * Issue #21 item 9, identity and isolation, on every surface: REST and MCP
 * of a real gateway, REST and MCP of the standalone server.
 * - Agent ids are normalized to NFC, and ids with control, zero-width or
 *   bidi characters are refused (`agent\u200b` and `agent\u202e` registered).
 * - An agent acts only in its own channel: it could send and broadcast into
 *   another channel, and post tasks there (or post unregistered at all).
 * - Silent coercions are refused: `required_capability: ""` (anyone could
 *   claim), `channel/create {"name": ""}` (answered `default`), `group: ""`.
 * - A `__proto__` key of task metadata is kept (it was dropped).
 * - A wrong HTTP method on a /coord route is 405 with Allow (it was 404).
 */

/** What a call answered, the same on every surface: the JSON, or the refusal's code and sentence. */
interface Answer {
  ok: boolean;
  body: Record<string, unknown>;
  code?: string;
  error?: string;
}

interface Surface {
  name: string;
  /** A prefix that keeps each surface's agents and channels apart (gateway REST and MCP share one store). */
  tag: string;
  call(tool: string, args: Record<string, unknown>): Promise<Answer>;
}

/** The REST route of each tool used here (POST, but for history). */
const ROUTES: Readonly<Record<string, string>> = {
  mux_register: '/agent/register',
  mux_send: '/msg/send',
  mux_broadcast: '/msg/broadcast',
  mux_task_post: '/task/post',
  mux_channel_create: '/channel/create',
  mux_state_set: '/state/set',
  mux_history: 'GET /msg/history',
};

const dir = mkdtempSync(join(tmpdir(), 'issue-21-identity-'));
const clients: Client[] = [];
let gw: RunningGateway;
let coord: RunningCoord;
let surfaces: Surface[];

async function mcp(url: string): Promise<Client> {
  const client = new Client({ name: 'issue-21-identity', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  clients.push(client);
  return client;
}

function restSurface(name: string, tag: string, base: string): Surface {
  return {
    name,
    tag,
    async call(tool, args) {
      const route = ROUTES[tool];
      if (route === undefined) throw new Error(`no route for ${tool}`);
      // A raw JSON body: JSON.stringify keeps an own `__proto__` key.
      const res = route.startsWith('GET ')
        ? await fetch(`${base}/coord${route.slice(4)}?${new URLSearchParams(args as Record<string, string>)}`)
        : await fetch(`${base}/coord${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
      const body = (await res.json()) as Record<string, unknown>;
      return res.status === 200 ? { ok: true, body } : { ok: false, body, code: body.code as string, error: body.error as string };
    },
  };
}

function mcpSurface(name: string, tag: string, client: Client, prefix: string): Surface {
  return {
    name,
    tag,
    async call(tool, args) {
      const result = coordResult(await client.callTool({ name: `${prefix}${tool}`, arguments: args }));
      if (!result.isError) return { ok: true, body: result.body };
      return { ok: false, body: result.body, code: result.body.code as string, error: result.body.error as string };
    },
  };
}

beforeAll(async () => {
  gw = await startGateway(coordToml());
  await coordReady(gw);
  coord = await startCoord(join(dir, 'coord.db'));
  surfaces = [
    restSurface('gateway REST', 'gr', gw.url),
    mcpSurface('gateway MCP', 'gm', await mcp(gw.url), 'coord__'),
    restSurface('standalone REST', 'sr', coord.url),
    mcpSurface('standalone MCP', 'sm', await mcp(coord.url), ''),
  ];
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopGateways();
  await stopCoords();
  rmSync(dir, { recursive: true, force: true });
});

/** Each surface's refusal of a call: every one BAD_REQUEST (or `code`), and all with one sentence. */
async function refusedEverywhere(make: (s: Surface) => [string, Record<string, unknown>], code = 'BAD_REQUEST'): Promise<string[]> {
  const sentences: string[] = [];
  for (const s of surfaces) {
    const [tool, args] = make(s);
    const answer = await s.call(tool, args);
    expect(answer.ok, `${s.name} ${tool} ${JSON.stringify(args)} was accepted: ${JSON.stringify(answer.body)}`).toBe(false);
    expect(answer.code, `${s.name}: ${answer.error}`).toBe(code);
    sentences.push((answer.error ?? '').replaceAll(`${s.tag}-`, '<tag>-'));
  }
  expect(new Set(sentences).size, sentences.join('\n')).toBe(1);
  return sentences;
}

describe('issue 21.9: agent ids are NFC and hold no hidden characters', () => {
  it('refuses zero-width, bidi, BOM and control characters in agent_id, with one sentence naming the code point', async () => {
    for (const [char, point] of [
      ['\u200b', 'U+200B'],
      ['\u202e', 'U+202E'],
      ['\u2066', 'U+2066'],
      ['\ufeff', 'U+FEFF'],
      ['\u0007', 'U+0007'],
    ] as const) {
      const [sentence] = await refusedEverywhere((s) => ['mux_register', { agent_id: `${s.tag}-agent${char}`, role: 'r' }]);
      expect(sentence).toContain(`agent_id contains ${point}`);
    }
  });

  it('refuses them in from, to and posted_by as well', async () => {
    for (const s of surfaces) expect((await s.call('mux_register', { agent_id: `${s.tag}-plain`, role: 'r' })).ok).toBe(true);
    await refusedEverywhere((s) => ['mux_send', { from: `${s.tag}-plain\u200b`, to: `${s.tag}-plain`, content: 'x' }]);
    await refusedEverywhere((s) => ['mux_send', { from: `${s.tag}-plain`, to: `${s.tag}-plain\u202e`, content: 'x' }]);
    await refusedEverywhere((s) => ['mux_task_post', { description: 'x', posted_by: `${s.tag}-plain\u200d` }]);
  });

  it('normalizes to NFC: the decomposed and the composed spelling are one agent, answered composed', async () => {
    for (const s of surfaces) {
      const decomposed = `${s.tag}-jose\u0301`;
      const composed = `${s.tag}-jos\u00e9`;
      const first = await s.call('mux_register', { agent_id: decomposed, role: 'r' });
      expect(first.body, s.name).toMatchObject({ created: true, agent: { id: composed } });
      const again = await s.call('mux_register', { agent_id: composed, role: 'r' });
      expect(again.body, s.name).toMatchObject({ created: false, agent: { id: composed } });
      expect((await s.call('mux_send', { from: composed, to: decomposed, content: 'one inbox' })).ok, s.name).toBe(true);
    }
  });
});

describe('issue 21.9: an agent acts only in its own channel', () => {
  it('refuses a send, a broadcast and a task post into another channel, and nothing arrives there', async () => {
    for (const s of surfaces) {
      expect((await s.call('mux_register', { agent_id: `${s.tag}-in-a`, role: 'r', channel: `${s.tag}-A` })).ok).toBe(true);
      expect((await s.call('mux_register', { agent_id: `${s.tag}-in-b`, role: 'r', channel: `${s.tag}-B` })).ok).toBe(true);
    }
    const sends = await refusedEverywhere(
      (s) => ['mux_send', { from: `${s.tag}-in-a`, to: `${s.tag}-in-b`, channel: `${s.tag}-B`, content: 'across' }],
      'UNKNOWN_AGENT',
    );
    expect(sends[0]).toBe("Sender '<tag>-in-a' is registered in channel '<tag>-A', not '<tag>-B'; send with channel '<tag>-A' or re-register in '<tag>-B'.");
    await refusedEverywhere((s) => ['mux_broadcast', { from: `${s.tag}-in-a`, channel: `${s.tag}-B`, content: 'across' }], 'UNKNOWN_AGENT');
    await refusedEverywhere((s) => ['mux_task_post', { description: 'across', posted_by: `${s.tag}-in-a`, channel: `${s.tag}-B` }], 'UNKNOWN_AGENT');
    for (const s of surfaces) {
      const history = await s.call('mux_history', { channel: `${s.tag}-B` });
      expect(history.body.messages, s.name).toEqual([]);
    }
  });

  it('refuses a task posted by an unregistered agent, as a send from one is refused', async () => {
    const [sentence] = await refusedEverywhere((s) => ['mux_task_post', { description: 'x', posted_by: `${s.tag}-ghost` }], 'UNKNOWN_AGENT');
    expect(sentence).toMatch(/^Poster '<tag>-ghost' is not registered/);
    await refusedEverywhere((s) => ['mux_send', { from: `${s.tag}-ghost`, to: `${s.tag}-plain`, content: 'x' }], 'UNKNOWN_AGENT');
  });
});

describe('issue 21.9: no silent coercions', () => {
  it('refuses required_capability "" (it meant anyone may claim)', async () => {
    const [sentence] = await refusedEverywhere((s) => ['mux_task_post', { description: 'x', posted_by: `${s.tag}-plain`, required_capability: '' }]);
    expect(sentence).toMatch(/^required_capability is empty; omit it \(or pass null\)/);
    for (const s of surfaces)
      expect((await s.call('mux_task_post', { description: 'x', posted_by: `${s.tag}-plain`, required_capability: null })).ok).toBe(true);
  });

  it('refuses channel/create {"name": ""} (it answered "default")', async () => {
    const [sentence] = await refusedEverywhere(() => ['mux_channel_create', { name: '' }]);
    expect(sentence).toMatch(/^Channel name is empty; name the channel/);
  });

  it('refuses an empty channel and an empty broadcast group instead of reading them as the default and everyone', async () => {
    await refusedEverywhere((s) => ['mux_send', { from: `${s.tag}-plain`, to: `${s.tag}-plain`, content: 'x', channel: '' }]);
    await refusedEverywhere((s) => ['mux_broadcast', { from: `${s.tag}-plain`, content: 'x', group: '' }]);
  });

  it('keeps a __proto__ key of task metadata as an ordinary key', async () => {
    const metadata = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}') as Record<string, unknown>;
    for (const s of surfaces) {
      const posted = await s.call('mux_task_post', { description: 'with proto', posted_by: `${s.tag}-plain`, metadata });
      expect(posted.ok, `${s.name}: ${posted.error}`).toBe(true);
      const kept = posted.body.metadata as Record<string, unknown>;
      expect(Object.keys(kept), s.name).toEqual(['__proto__', 'k']);
      expect(Object.getOwnPropertyDescriptor(kept, '__proto__')?.value, s.name).toEqual({ polluted: true });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });
});

describe('issue 21.9: a wrong method on a /coord route is 405 with Allow', () => {
  it('answers 405 METHOD_NOT_ALLOWED naming the method on the gateway and the standalone server; a missing route stays 404', async () => {
    for (const base of [gw.url, coord.url]) {
      const get = await fetch(`${base}/coord/msg/send`);
      expect(get.status, base).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      expect(await get.json()).toEqual({
        error: 'GET /coord/msg/send is not allowed; this route takes POST (Allow: POST).',
        code: 'METHOD_NOT_ALLOWED',
      });
      const post = await fetch(`${base}/coord/msg/poll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(post.status, base).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      expect(((await post.json()) as { code: string }).code).toBe('METHOD_NOT_ALLOWED');
      const deleted = await fetch(`${base}/coord/health`, { method: 'DELETE' });
      expect(deleted.status, base).toBe(405);
      expect(deleted.headers.get('allow')).toBe('GET, HEAD');
      const missing = await fetch(`${base}/coord/msg/sendd`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(missing.status, base).toBe(404);
    }
  });
});
