import { describe, expect, it } from 'vitest';
import { paramHeaderMismatch, paramHeaders } from '../../src/router/param-headers.js';

/*
 * The x-mcp-header declarations the gateway checks (streamable-http §Custom
 * Headers from Tool Parameters): only along chains of `properties`, and none
 * for a tool whose declarations break the spec's rules (clients leave such
 * a tool out, so it is never called with headers).
 */

const prop = (type: string, header: string): Record<string, unknown> => ({ type, 'x-mcp-header': header });

describe('paramHeaders', () => {
  it('finds declarations at any depth of properties, with their path and type', () => {
    const schema = { type: 'object', properties: { a: prop('string', 'A'), o: { type: 'object', properties: { n: prop('integer', 'N') } } } };
    expect(paramHeaders(schema)).toEqual([
      { path: ['a'], name: 'A', type: 'string' },
      { path: ['o', 'n'], name: 'N', type: 'integer' },
    ]);
  });

  it('does not look under items, anyOf and the like', () => {
    expect(paramHeaders({ type: 'object', properties: { list: { type: 'array', items: prop('string', 'X') } } })).toEqual([]);
  });

  it.each([
    ['a name used twice (case-insensitively)', { a: prop('string', 'Region'), b: prop('string', 'region') }],
    ['a name that is not a header token', { a: prop('string', 'Re gion') }],
    ['an object-typed property', { a: prop('object', 'A') }],
  ])('checks nothing for a tool with %s', (_case, properties) => {
    expect(paramHeaders({ type: 'object', properties })).toEqual([]);
  });
});

describe('paramHeaderMismatch', () => {
  const declared = paramHeaders({ type: 'object', properties: { n: prop('integer', 'N'), s: prop('string', 'S'), b: prop('boolean', 'B') } });
  const check = (args: unknown, headers: Record<string, string>): string | undefined => paramHeaderMismatch(declared, args, new Headers(headers));

  it('accepts matching headers: integers as numbers, booleans as true/false, Base64 decoded', () => {
    expect(
      check({ n: 42, s: ' padded ', b: true }, { 'mcp-param-n': '42.0', 'mcp-param-s': '=?base64?IHBhZGRlZCA=?=', 'mcp-param-b': 'true' }),
    ).toBeUndefined();
  });

  it('expects no header for an absent or null value', () => {
    expect(check({ n: null }, {})).toBeUndefined();
    expect(check({}, { 'mcp-param-s': 'ignored' })).toBeUndefined();
  });

  it('names the header that is missing, different or badly encoded', () => {
    expect(check({ s: 'x' }, {})).toMatch(/Mcp-Param-S header is absent/);
    expect(check({ n: 42 }, { 'mcp-param-n': '0x2a' })).toMatch(/Mcp-Param-N/);
    expect(check({ s: 'x' }, { 'mcp-param-s': '=?base64?eA?=' })).toMatch(/Mcp-Param-S/); // unpadded
  });
});
