/*
 * Callers for load benches on the lean keep-alive client: REST POST /call,
 * MCP with 2025-era sessions (initialize, then calls with the session
 * header), and MCP 2026-07-28 (stateless: each call carries its envelope).
 * Each caller makes one echo call and checks that its answer echoes.
 */
import { headerOf, type LeanAnswer, type LeanPool } from './lean-http.js';

export type Surface = 'REST' | '/mcp 2025 sessions' | '/mcp 2025 sessions, asking' | '/mcp 2026-07-28';
/** [speed] The client capabilities a 2025 session declares: none, or (`asking`) sampling and elicitation, as most real agents do. */
const capabilitiesOf = (surface: Surface): Record<string, unknown> => (surface.endsWith('asking') ? { sampling: {}, elicitation: {} } : {});
const ACCEPT = 'accept: application/json, text/event-stream\r\n';
const MODERN = '2026-07-28';

/** One caller per client: makes one echo call and checks its answer. */
export type Call = () => Promise<void>;

function check(answer: LeanAnswer, surface: Surface): void {
  if (answer.status !== 200) throw new Error(`${surface}: HTTP ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
  if (!answer.body.includes('"soak"')) throw new Error(`${surface}: no echo in ${answer.body.toString('utf8').slice(0, 200)}`);
}

export async function leanCallers(
  pool: LeanPool,
  surface: Surface,
  clients: number,
  tool = 'demo__echo',
  path = '/mcp',
): Promise<{ calls: Call[]; close(): Promise<void> }> {
  let id = 1;
  if (surface === 'REST') {
    const body = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'soak' } });
    const call: Call = async () => check(await pool.request('POST', '/call', body), surface);
    return { calls: Array.from({ length: clients }, () => call), close: async () => undefined };
  }
  if (surface === '/mcp 2026-07-28') {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': MODERN,
      'io.modelcontextprotocol/clientInfo': { name: 'rss-bench', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const headers = `${ACCEPT}mcp-protocol-version: ${MODERN}\r\nmcp-method: tools/call\r\nmcp-name: ${tool}\r\n`;
    const call: Call = async () => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: tool, arguments: { text: 'soak' }, _meta: meta } });
      check(await pool.request('POST', path, body, headers), surface);
    };
    return { calls: Array.from({ length: clients }, () => call), close: async () => undefined };
  }
  const sessions = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const init = {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: capabilitiesOf(surface), clientInfo: { name: `rss-${i}`, version: '1' } },
      };
      const answer = await pool.request('POST', path, JSON.stringify(init), ACCEPT);
      const session = headerOf(answer, 'mcp-session-id');
      if (answer.status !== 200 || session === undefined) throw new Error(`initialize: HTTP ${answer.status}`);
      const headers = `${ACCEPT}mcp-session-id: ${session}\r\nmcp-protocol-version: 2025-06-18\r\n`;
      const ack = await pool.request('POST', path, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers);
      if (ack.status !== 202) throw new Error(`notifications/initialized: HTTP ${ack.status}`);
      return headers;
    }),
  );
  const calls = sessions.map(
    (headers): Call =>
      async () => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: tool, arguments: { text: 'soak' } } });
        check(await pool.request('POST', path, body, headers), surface);
      },
  );
  return {
    calls,
    close: async () => {
      for (const headers of sessions) await pool.request('DELETE', path, undefined, headers).catch(() => undefined);
    },
  };
}

/** Makes `total` calls with the callers, each taking the next call as soon as its last one is answered. */
export async function drive(calls: Call[], total: number, signal: AbortSignal): Promise<void> {
  let next = 0;
  await Promise.all(
    calls.map(async (call) => {
      while (next < total) {
        next += 1;
        if (signal.aborted) throw new Error('bench time bound reached');
        await call();
      }
    }),
  );
}
