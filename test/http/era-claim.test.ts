import { isLegacyRequest } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { envelopeClaim, isModernVersion } from '../../src/http/mcp-modern.js';

/*
 * The gateway decides most POSTs' protocol era itself (envelopeClaim), so
 * the SDK does not classify and validate each body twice. Wherever it
 * decides, it must agree with the SDK's own classification (isLegacyRequest),
 * which createMcpHandler uses: this table holds the two together, so an SDK
 * update that classifies differently fails here.
 */

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

const CASES: { name: string; body: unknown; header?: string }[] = [
  {
    name: '2025 initialize',
    body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
  },
  { name: '2025 tools/call', body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: {} } }, header: '2025-11-25' },
  { name: '2025 notification', body: { jsonrpc: '2.0', method: 'notifications/initialized' } },
  { name: '2025 batch', body: [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }] },
  { name: 'posted response', body: { jsonrpc: '2.0', id: 3, result: {} } },
  { name: 'modern tools/call', body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x', arguments: {}, _meta: META } }, header: '2026-07-28' },
  { name: 'modern tools/list, no header', body: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: META } } },
  { name: 'modern discover', body: { jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: META } }, header: '2026-07-28' },
  {
    name: 'claim naming an unknown version',
    body: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } },
  },
  { name: 'malformed claim', body: { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': 5 } } } },
  { name: '2025 body under a 2026 header', body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, header: '2026-07-28' },
  { name: 'initialize with a claim', body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { _meta: META } } },
  { name: 'batch with a claim', body: [{ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }] },
  { name: 'wrong jsonrpc version', body: { jsonrpc: '1.0', id: 1, method: 'tools/list' } },
  { name: 'method of the wrong type', body: { jsonrpc: '2.0', id: 1, method: 5 } },
  { name: 'empty batch', body: [] },
  { name: 'not an object', body: 'text' },
  { name: 'claimed notification', body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: META } } },
];

/** The gateway's own decision: true modern, false legacy, undefined when it asks the SDK. */
function decided(body: unknown, header: string | undefined): boolean | undefined {
  const claim = envelopeClaim(body);
  if (claim === 'none' && !isModernVersion(header)) return false;
  if (claim === 'request') return true;
  return undefined;
}

describe('era of a POST: the gateway decides as the SDK would', () => {
  it.each(CASES)('$name', async ({ body, header }) => {
    const request = new Request('http://127.0.0.1/mcp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(header === undefined ? {} : { 'mcp-protocol-version': header }),
      },
      body: JSON.stringify(body),
    });
    const sdkModern = !(await isLegacyRequest(request, body));
    const ours = decided(body, header);
    if (ours !== undefined) expect(ours).toBe(sdkModern);
  });

  it('decides the common cases itself', () => {
    expect(decided(CASES[1]?.body, '2025-11-25')).toBe(false);
    expect(decided(CASES[5]?.body, '2026-07-28')).toBe(true);
    expect(decided(CASES[11]?.body, undefined)).toBeUndefined();
  });
});
