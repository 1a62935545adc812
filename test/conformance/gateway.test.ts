// The official MCP conformance suite against the gateway's per-server
// endpoint /mcp/{server}, whose backend is the conformance test server as a
// stdio child: everything the suite checks travels agent → gateway (router,
// breaker, pool) → stdio backend and back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { runConformance } from '../helpers/run-conformance.js';

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(`
[[backends]]
name = "conformance"
command = "node"
args = [${q(fixture('conformance-server'))}]
`);
  await gw.waitForLog((l) => l.msg === 'backend ready');
});
afterAll(stopAll);

describe('conformance suite through the gateway', () => {
  it('passes every check on /mcp/{server}, DNS rebinding included', { timeout: 300_000 }, async () => {
    const run = await runConformance(`${gw.url}/mcp/conformance`);
    const totalLine = /^Total: .*$/m.exec(run.output)?.[0] ?? '(no Total line)';
    process.stdout.write(
      `conformance (gateway /mcp/conformance): ${totalLine} — ${run.warnings} warnings, ${run.scenarios.length} scenarios in ${run.durationMs} ms\n`,
    );
    for (const scenario of run.scenarios.filter((s) => s.problems.length > 0)) {
      process.stdout.write(`  ${scenario.name}:\n${scenario.problems.map((p) => `    ${p}\n`).join('')}`);
    }
    expect(run.scenarios.length).toBe(32);
    expect(run.failedScenarios).toEqual([]);
    expect(run.failed).toBe(0);
    expect(run.passed).toBeGreaterThanOrEqual(44);
  });
});
