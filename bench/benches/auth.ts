import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { OAuthVerifier } from '../../src/auth/oauth.js';
import { TokenTable } from '../../src/auth/tokens.js';
import { buildConfig } from '../../src/config/load.js';
import type { Bench, BenchReport } from '../bench.js';
import { fmt, quantile } from '../lib/stats.js';

const RESOURCE = 'http://127.0.0.1:1/mcp';
const STATIC_TOKEN = 'bench-static-token-0123456789';

/** µs per call of `fn`, n calls in a row after a warm-up: p50 of 5 batches. */
async function perCall(n: number, fn: () => Promise<unknown> | unknown): Promise<{ p50: number; min: number }> {
  for (let i = 0; i < Math.min(n, 500); i += 1) await fn();
  const batches: number[] = [];
  for (let b = 0; b < 5; b += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i += 1) await fn();
    batches.push(Number(process.hrtime.bigint() - start) / 1000 / n);
  }
  return { p50: quantile(batches, 0.5), min: Math.min(...batches) };
}

/**
 * The cost of checking a bearer token on each request (issue #26): a JWT
 * from [auth.oauth] (signature against a JWKS already fetched and cached,
 * issuer, audience, times, scopes) beside a static [[auth.tokens]] token.
 * In-process, so only the check itself is measured; the JWKS is served on
 * loopback and fetched once before the measurement.
 */
export const authBench: Bench = {
  name: 'auth',
  description: 'bearer-token check per request: OAuth JWT (RS256, ES256, EdDSA) with a warm JWKS cache, and a static token',
  timeoutMs: 2 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const n = ctx.options.quick ? 2_000 : 20_000;
    const algs = ['RS256', 'ES256', 'EdDSA'] as const;
    const keys = await Promise.all(algs.map(async (alg) => ({ alg, ...(await generateKeyPair(alg, { extractable: true })) })));
    const jwks = { keys: await Promise.all(keys.map(async (k, i) => ({ ...(await exportJWK(k.publicKey)), kid: `k${i}`, alg: k.alg, use: 'sig' }))) };
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const config = buildConfig(
        {
          auth: {
            tokens: [{ name: 'static', token: STATIC_TOKEN }],
            oauth: { issuer: base, jwks_url: `${base}/jwks`, resource: RESOURCE },
          },
        },
        '(bench)',
        ctx.tmp,
      );
      const verifier = new OAuthVerifier(config.auth);
      const table = new TokenTable(config.auth);
      const rows: string[][] = [];
      for (const [i, k] of keys.entries()) {
        const jwt = await new SignJWT({ scope: 'stonegate:agent' })
          .setProtectedHeader({ alg: k.alg, kid: `k${i}` })
          .setIssuer(base)
          .setAudience(RESOURCE)
          .setSubject('bench-agent')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(k.privateKey);
        const cost = await perCall(n, () => verifier.authenticate(jwt));
        rows.push([`OAuth JWT, ${k.alg}`, fmt(cost.p50, 1), fmt(cost.min, 1)]);
        ctx.log(`auth: ${k.alg} done`);
      }
      const header = `Bearer ${STATIC_TOKEN}`;
      const cost = await perCall(n, () => table.authenticate(header));
      rows.push(['static token ([[auth.tokens]])', fmt(cost.p50, 2), fmt(cost.min, 2)]);
      return {
        tables: [
          {
            title: `Bearer-token check per request, in-process, ${n.toLocaleString('en-US')} checks in a row × 5 batches (µs per check)`,
            columns: ['token', 'p50 of batches µs', 'best batch µs'],
            rows,
          },
        ],
        notes: [
          'The OAuth rows run the gateway’s own verifier (src/auth/oauth.ts: jose jwtVerify against a remote JWKS fetched once and cached, plus issuer, audience, exp/nbf, the scope → role mapping and the identity name) on a token signed with that algorithm; the static row is the constant-time table lookup of [[auth.tokens]]. A request pays this once, before its body is read.',
        ],
        targets: [],
      };
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
};
