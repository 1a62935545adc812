import type { BenchContext } from '../bench.js';
import { NODE, ROOT } from './paths.js';
import { freePort, waitForPort } from './ports.js';

/**
 * [speed] The SDK client's own floor (#30): a bare node:http MCP server in
 * its own process that does no work, answering as stonegate's lean /mcp path
 * answers a 2025 session — one JSON body with Content-Length, Content-Type
 * and Mcp-Session-Id, in one write. `initialize` gets a fixed answer,
 * notifications 202, GET 405 (no standalone stream), DELETE 200, and
 * `tools/call` the echo of `arguments.text` or, when `result` is given,
 * that result (a saved gate_discover answer). A target against it measures
 * what the SDK client and one HTTP round trip cost, whatever the server.
 */
const SCRIPT = `const result = process.env.CANNED_RESULT === undefined ? undefined : JSON.parse(process.env.CANNED_RESULT);
const SID = 'canned-0000-4000-8000-000000000001';
require('node:http').createServer((req, res) => {
  if (req.method !== 'POST') { req.resume(); res.writeHead(req.method === 'DELETE' ? 200 : 405); res.end(); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const m = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (m.id === undefined) { res.writeHead(202); res.end(); return; }
    const answer = m.method === 'initialize'
      ? { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'canned', version: '1.0.0' } }
      : m.method === 'tools/call' ? (result ?? { content: [{ type: 'text', text: m.params.arguments.text }] }) : {};
    const text = JSON.stringify({ result: answer, jsonrpc: '2.0', id: m.id });
    res.writeHead(200, { 'mcp-session-id': SID, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}).listen(Number(process.env.CANNED_PORT), '127.0.0.1');`;

export interface CannedMcp {
  /** The MCP endpoint URL. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the canned MCP server; `result` is what every tools/call gets (default: the echo of its text). */
export async function startCannedMcp(ctx: BenchContext, result?: Record<string, unknown>): Promise<CannedMcp> {
  const port = await freePort();
  const env: Record<string, string> = { CANNED_PORT: String(port) };
  if (result !== undefined) env.CANNED_RESULT = JSON.stringify(result);
  const proc = ctx.processes.spawn('canned MCP server', NODE, ['-e', SCRIPT], { cwd: ROOT, env });
  await waitForPort(port, 10_000, proc.exited);
  return { url: `http://127.0.0.1:${port}/mcp`, pid: proc.pid, stop: () => proc.stop() };
}
