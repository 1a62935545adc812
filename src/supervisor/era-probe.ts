import type { DiscoverResult } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/client';
import { scrub, secretsOf } from '../config/redact.js';
import type { BackendConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import { withinDeadline } from './connect.js';
import { LineTransport } from './line-transport.js';
import { StdioChild } from './stdio-child.js';
import { childEnv } from './transports/stdio.js';

/** What a throwaway probe learnt of a stdio backend's era. */
export type ProbeOutcome = { era: 'modern'; version: string | null; discover: DiscoverResult } | { era: 'legacy'; version: string | null; why: string | null };

/**
 * Asks a stdio backend its era in a throwaway process: the backend is
 * spawned once more exactly as configured (command, args, cwd, env rules of
 * transports/stdio.ts), an SDK Client in `versionNegotiation: 'auto'` sends
 * `server/discover` on it (in place: LineTransport is a custom transport),
 * and the process (and its group) is killed whatever happens. A
 * DiscoverResult is modern; a connection closed during the probe (a server
 * that exits on any request before initialize), any other error or
 * start_timeout running out is legacy, as the spec's stdio negotiation says.
 * Rejects only when the process cannot be spawned at all (the real start
 * then reports that).
 */
export async function probeStdioEra(config: BackendConfig, logger: Logger): Promise<ProbeOutcome> {
  const log = logger.child({ era_probe: true });
  const secrets = secretsOf(config);
  const child = await StdioChild.spawn({
    command: config.command === 'node' ? process.execPath : (config.command ?? ''),
    args: config.args,
    cwd: config.cwd,
    env: childEnv(config),
    logger: log,
    stderrLines: config.supervisor.stderr_lines,
    secrets,
    backend: config.name,
  });
  log.debug({ pid: child.pid, start_timeout: config.startTimeout }, 'era probe process started; sending server/discover');
  const transport = new LineTransport({ input: child.stdout, output: child.stdin, logger: log, maxLineBytes: config.supervisor.max_line_bytes });
  const client = new Client(
    { name: 'stonegate', version: VERSION },
    { capabilities: {}, versionNegotiation: { mode: 'auto', probe: { timeoutMs: config.startTimeout } } },
  );
  try {
    await withinDeadline(client.connect(transport, { timeout: config.startTimeout }), config.startTimeout, () => client.close());
    const discover = client.getDiscoverResult();
    const version = client.getNegotiatedProtocolVersion() ?? null;
    if (client.getProtocolEra() === 'modern' && discover !== undefined) return { era: 'modern', version, discover };
    return { era: 'legacy', version, why: null };
  } catch (err) {
    // Never era evidence for modern: a closed pipe, a timeout, a refusal.
    return { era: 'legacy', version: null, why: scrub(err instanceof Error ? err.message : String(err), secrets) };
  } finally {
    await client.close().catch(() => undefined);
    child.kill();
    await child.exited;
    log.debug({ pid: child.pid }, 'era probe process ended');
  }
}
