import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #32 [otel], item 3: with tracing off, an incoming trace context
 * passes through to the backend verbatim — REST did so with the HTTP
 * headers, but a POST /mcp passed on only its request's `_meta` context and
 * dropped the HTTP `traceparent`. Now an MCP request without a `_meta`
 * context carries its POST's headers' context (pool/backend-era.ts traced),
 * on the lean /mcp path and on the SDK's alike, in both eras; a `_meta`
 * context still wins.
 */

const HEADER_TRACE = `00-${'1e'.repeat(16)}-${'2f'.repeat(8)}-01`;
const META_TRACE = `00-${'3a'.repeat(16)}-${'4b'.repeat(8)}-01`;
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(`[[backends]]\nname = "echo"\ncommand = "node"\nargs = [${q(fixture('meta-echo-server'))}]\n`);
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'echo');
}, 60_000);

afterAll(stopAll);

async function leanCalls(): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('stonegate_mcp_lean_calls_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** What the backend saw in `_meta` for one call of a client whose every POST carries HEADER_TRACE. */
async function seenMeta(
  options: Record<string, unknown>,
  meta?: Record<string, unknown>,
  path = '/mcp',
): Promise<{ seen: Record<string, unknown>; lean: boolean }> {
  const client = new Client({ name: 'passthrough', version: '1' }, options as ConstructorParameters<typeof Client>[1]);
  const headers = { traceparent: HEADER_TRACE, tracestate: 'vendor=h' };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers } }));
  try {
    const before = await leanCalls();
    const answer = await client.callTool({ name: 'echo__echo_meta', arguments: {}, ...(meta === undefined ? {} : { _meta: meta }) });
    const text = (answer.content as { text: string }[])[0]?.text ?? '{}';
    return { seen: JSON.parse(text) as Record<string, unknown>, lean: (await leanCalls()) === before + 1 };
  } finally {
    await client.close();
  }
}

const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' } } };
const ELICITING = { capabilities: { elicitation: {} } }; // [speed] #30: lean too (mcp-lean-sse.ts); a query string takes the SDK path

describe('[otel] tracing off: a POST /mcp passes its HTTP trace context on', () => {
  it.each([
    ['a 2025 session, lean path', {}, true, '/mcp'],
    ['a 2025 session that takes elicitation, lean path', ELICITING, true, '/mcp'],
    ['a 2025 session that takes elicitation, SDK path', ELICITING, false, '/mcp?via=sdk'],
    ['a 2026-07-28 request, lean path', MODERN, true, '/mcp'],
  ] as const)('%s: the backend gets the traceparent and tracestate headers verbatim', async (_name, options, lean, path) => {
    const result = await seenMeta(options, undefined, path);
    expect(result.lean).toBe(lean);
    expect(result.seen).toMatchObject({ traceparent: HEADER_TRACE, tracestate: 'vendor=h' });
  });

  it('a _meta context wins over the headers', async () => {
    const { seen } = await seenMeta({}, { traceparent: META_TRACE });
    expect(seen.traceparent).toBe(META_TRACE);
    expect(seen.tracestate).toBeUndefined();
  });
});
