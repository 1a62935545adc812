import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SubjectTokens } from '../../src/auth/subject-tokens.js';
import { tokenExchangeGuard } from '../../src/auth/token-exchange-guard.js';
import { buildConfig } from '../../src/config/load.js';
import type { BackendConfig } from '../../src/config/schema.js';
import type { CallOutcome, CallRequest } from '../../src/router/router.js';
import type { Bench, BenchReport } from '../bench.js';
import { fmt, quantile } from '../lib/stats.js';

/** µs per call of `fn`, n calls in a row after a warm-up: p50 and best of 5 batches. */
async function perCall(n: number, fn: () => Promise<unknown>): Promise<{ p50: number; min: number }> {
  for (let i = 0; i < Math.min(n, 1_000); i += 1) await fn();
  const batches: number[] = [];
  for (let b = 0; b < 5; b += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i += 1) await fn();
    batches.push(Number(process.hrtime.bigint() - start) / 1000 / n);
  }
  return { p50: quantile(batches, 0.5), min: Math.min(...batches) };
}

const OUTCOME: CallOutcome = { result: { content: [] }, server: 'plain', tool: 'echo', duration_ms: 0 };

/**
 * What the router middleware of token exchange (issue #27,
 * src/auth/token-exchange-guard.ts) costs a call: on a backend without
 * token_exchange (the path every other call takes: one lookup of the
 * backend's entry), and on a token_exchange backend once the caller's
 * exchanged token is cached (a map lookup and the caller's own SessionRef).
 * In-process against a `next` that answers at once, beside a call of
 * `next` alone, so only the middleware is measured; the one exchange is
 * made before the measurement against a loopback token endpoint.
 */
export const tokenExchangeBench: Bench = {
  name: 'token-exchange',
  description: 'router middleware of oauth.grant = "token_exchange": cost per call on other backends, and on an exchange backend with a cached token',
  timeoutMs: 2 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const n = ctx.options.quick ? 20_000 : 200_000;
    let exchanges = 0;
    const server = createServer((_req, res) => {
      exchanges += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'exchanged', token_type: 'Bearer', expires_in: 3600 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const config = buildConfig(
        {
          backends: [
            { name: 'plain', transport: 'http', url: `${base}/plain` },
            {
              name: 'tx',
              transport: 'http',
              url: `${base}/tx`,
              oauth: { grant: 'token_exchange', client_id: 'gw', client_secret: 'gw-secret', token_url: `${base}/token` },
            },
          ],
        },
        '(bench)',
        ctx.tmp,
      );
      const byName = new Map<string, BackendConfig>(config.backends.map((b) => [b.name, b]));
      const subjects = new SubjectTokens();
      subjects.remember('oauth:alice', 'alice-inbound-token', Date.now() + 3_600_000);
      const guard = tokenExchangeGuard((s) => byName.get(s), subjects);
      const next = async (_request: CallRequest): Promise<CallOutcome> => OUTCOME;
      const plain: CallRequest = { server: 'plain', tool: 'echo', caller: 'oauth:alice' };
      const tx: CallRequest = { server: 'tx', tool: 'echo', caller: 'oauth:alice' };
      await guard(tx, next);
      const none = await perCall(n, () => next(plain));
      const other = await perCall(n, () => guard(plain, next));
      const cached = await perCall(n, () => guard(tx, next));
      ctx.log(`token-exchange: ${exchanges} exchange(s) made`);
      return {
        tables: [
          {
            title: `Router middleware of token exchange, in-process, ${n.toLocaleString('en-US')} calls in a row × 5 batches (µs per call)`,
            columns: ['call', 'p50 of batches µs', 'best batch µs'],
            rows: [
              ['next() alone (no middleware)', fmt(none.p50, 3), fmt(none.min, 3)],
              ['backend without token_exchange', fmt(other.p50, 3), fmt(other.min, 3)],
              ['token_exchange backend, token cached', fmt(cached.p50, 3), fmt(cached.min, 3)],
            ],
          },
        ],
        notes: [
          `\`npm run bench -- token-exchange\`. One exchange was made in all (${exchanges}): the calls after it used the cached token. On a backend without token_exchange the middleware is one lookup of the backend's entry, within the noise of a bare \`next()\`; on an exchange backend the cached path (the caller's subject token, the exchanger, the held token, the caller's SessionRef) is a few µs beside a remote call's milliseconds.`,
        ],
        targets: [],
      };
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
};
