import type { Gateway } from '../gateway/gateway.js';
import { VERSION } from '../version.js';

/*
 * What `stonegate serve --log-format pretty` prints for people at start:
 * where to connect, then one line per backend as it comes up (or fails),
 * then a ready line. After the first start the log takes over.
 */

/** Prints the start summary; call after `gateway.start()` with its url and ready promise. */
export function printServeSummary(gateway: Gateway, started: { url: string | undefined; ready: Promise<void> }, out: (text: string) => void): void {
  const base = started.url ?? '';
  const names = gateway.supervisor
    .list()
    .filter((b) => b.config.enabled)
    .map((b) => b.name);
  const width = Math.max(8, ...names.map((n) => n.length));
  const since = Date.now();
  const seconds = (): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;
  out(`stonegate ${VERSION} listening on ${base}/mcp`);
  out(`  dashboard  ${base}/ui`);
  out(
    `  backends   ${names.length === 0 ? 'none configured (add [[backends]] entries, or POST /server/add)' : `${names.length} starting: ${names.join(', ')}`}`,
  );
  let done = false;
  const pending = new Set(names);
  const onReady = (name: string): void => {
    if (done || !pending.delete(name)) return;
    out(`  ✓ ${name.padEnd(width)}  running, ${gateway.catalog.toolCount(name)} tools (${seconds()})`);
  };
  const onState = (name: string, to: string): void => {
    if (done || to !== 'failed' || !pending.delete(name)) return;
    const error = gateway.serverList(new Set([name]))[0]?.last_error ?? 'see the log';
    out(`  ✗ ${name.padEnd(width)}  failed: ${error}`);
  };
  gateway.supervisor.on('ready', onReady);
  gateway.supervisor.on('state', onState);
  void started.ready
    .catch(() => undefined)
    .then(() => {
      done = true;
      gateway.supervisor.off('ready', onReady);
      gateway.supervisor.off('state', onState);
      const rows = gateway.serverList();
      const running = rows.filter((r) => r.enabled && r.status === 'running').length;
      const tools = rows.reduce((n, r) => n + r.tool_count, 0);
      out(`ready: ${running}/${names.length} backends running, ${tools} tools — point agents at ${base}/mcp (Ctrl-C stops)`);
    });
}
