import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RunningGateway } from './harness.js';

/*
 * The coordination backend as agents reach it through the gateway: MCP
 * sessions on /mcp calling `coord__mux_*`, and REST under /coord.
 */

/** A gateway config with no backend of its own: only the built-in `coord`. */
export function coordToml(coordination: Record<string, number | boolean> = {}, extra = ''): string {
  const keys = Object.entries(coordination).map(([key, value]) => `${key} = ${String(value)}`);
  return `[supervisor]\nrestart_backoff_min = 50\n\n[coordination]\n${keys.join('\n')}\n${extra}\n`;
}

/** Waits until the gateway logged that `coord` is ready (its tools are in the catalog). */
export async function coordReady(gw: RunningGateway): Promise<void> {
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'coord');
}

/** A tool result of a coord tool: its JSON (structuredContent), text and error flag. */
export interface CoordResult {
  isError: boolean;
  body: Record<string, unknown>;
  text: string;
  meta: Record<string, unknown> | undefined;
}

export function coordResult(raw: unknown): CoordResult {
  const result = raw as CallToolResult;
  const first = result.content[0];
  return {
    isError: result.isError === true,
    body: (result.structuredContent ?? {}) as Record<string, unknown>,
    text: first?.type === 'text' ? first.text : '',
    meta: result._meta as Record<string, unknown> | undefined,
  };
}

/** One agent's MCP session on the gateway's /mcp. */
export class CoordSession {
  private constructor(readonly client: Client) {}

  static async open(url: string, name = 'coord-it'): Promise<CoordSession> {
    const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    return new CoordSession(client);
  }

  /** Calls `coord__<tool>` (the exposed name of a coord tool). */
  async call(tool: string, args: Record<string, unknown>, options: { timeout?: number } = {}): Promise<CoordResult> {
    const raw = await this.client.callTool(
      { name: `coord__${tool}`, arguments: args },
      options.timeout === undefined ? undefined : { timeout: options.timeout },
    );
    return coordResult(raw);
  }

  /** Calls a tool that must succeed; returns its JSON. */
  async ok(tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await this.call(tool, args);
    if (result.isError) throw new Error(`coord__${tool} failed: ${result.text}`);
    return result.body;
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}

/** Sessions a test file opened; closeAll() in afterEach/afterAll. */
export class SessionSet {
  readonly #open = new Set<CoordSession>();

  async open(url: string, name?: string): Promise<CoordSession> {
    const session = await CoordSession.open(url, name);
    this.#open.add(session);
    return session;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((s) => s.close()));
    this.#open.clear();
  }
}

/** REST under /coord that must answer 200; returns the JSON body. */
export async function rest(gw: RunningGateway, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await gw.request(method, `/coord${path}`, body);
  if (answer.status !== 200) throw new Error(`${method} /coord${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Nearest-rank quantile (0 < q ≤ 1). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] ?? Number.NaN;
}

/** Writes a measurement to stderr, where a reader of the test log sees it. */
export function report(line: string): void {
  process.stderr.write(`${line}\n`);
}
