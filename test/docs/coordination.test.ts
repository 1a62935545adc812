import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORD_ERROR_STATUS } from '../../backends/coord/errors.js';
import { coordRoutes } from '../../backends/coord/rest.js';
import { createCoordServer } from '../../backends/coord/server.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';

/*
 * docs/coordination.md is the one reference of the coordination backend:
 * these tests fail when the coord server registers a tool, or its REST app a
 * route, or its errors a code, that the page does not document, and when the
 * page documents a tool, a route or a code the code does not have. The tools and routes are read from
 * a live server and app, not from the source text.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGE = readFileSync(`${ROOT}docs/coordination.md`, 'utf8');

let store: CoordStore;
let tools: string[] = [];
let routes: string[] = [];

beforeAll(async () => {
  store = openSqliteStore(':memory:');
  const server = createCoordServer(store);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'docs-test', version: '0.0.0' });
  await client.connect(clientSide);
  tools = (await client.listTools()).tools.map((tool) => tool.name);
  await client.close();
  await server.close();
  // The app is mounted at /coord; its catch-all and middleware are method ALL.
  routes = coordRoutes(store)
    .routes.filter((route) => route.method !== 'ALL')
    .map((route) => `${route.method} /coord${route.path}`);
});

afterAll(async () => {
  await store.close();
});

describe('docs/coordination.md tools', () => {
  it('finds the tools of the coord server', () => {
    expect(tools.length).toBeGreaterThan(0);
  });

  it('documents every mux_* tool the coord server registers', () => {
    expect(tools.filter((tool) => !PAGE.includes(`\`${tool}\``))).toEqual([]);
  });

  it('documents no mux_* tool the coord server lacks', () => {
    const documented = new Set([...PAGE.matchAll(/`(?:coord__)?(mux_[a-z_]+)`/g)].map((m) => m[1] ?? ''));
    expect([...documented].filter((tool) => !tools.includes(tool))).toEqual([]);
  });
});

describe('docs/coordination.md routes', () => {
  it('finds the routes of the coord REST app', () => {
    expect(routes.length).toBeGreaterThan(0);
  });

  it('documents every /coord route', () => {
    expect(routes.filter((route) => !PAGE.includes(`\`${route}\``))).toEqual([]);
  });

  it('documents no /coord route the code lacks', () => {
    const documented = new Set([...PAGE.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/coord\/[^`\s]*)`/g)].map((m) => `${m[1]} ${m[2]}`));
    expect([...documented].filter((route) => !routes.includes(route))).toEqual([]);
  });
});

describe('docs/coordination.md error table', () => {
  const lines = PAGE.split('\n');
  const start = lines.findIndex((line) => line.trim() === '| code | status | when |');
  const body = lines.slice(start + 2);
  const end = body.findIndex((line) => !line.trim().startsWith('|'));
  const rows = body.slice(0, end === -1 ? undefined : end).map((line) => line.split('|').map((cell) => cell.trim()));
  const documented = new Map(rows.map(([, code = '', status = '']) => [/^`([A-Z_]+)`$/.exec(code)?.[1] ?? code, Number(status)]));

  it('finds the table', () => {
    expect(start).toBeGreaterThan(-1);
    expect(rows.length).toBeGreaterThan(0);
  });

  it('has a row with the right status for every code of COORD_ERROR_STATUS, and no other', () => {
    expect(Object.fromEntries(documented)).toEqual({ ...COORD_ERROR_STATUS });
  });
});
