import { afterEach, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], "Left" 2: the audit log (GET /log) names each call's
 * trace, so a row joins its trace as the JSON log lines do: a traced call's
 * row has its trace id, a call without a trace has none (docs/rest.md).
 */

const TRACE_ID = '3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e';
const PARENT = 'a9a9a9a9a9a9a9a9';

afterEach(stopAll);

async function gateway(telemetry: string): Promise<RunningGateway> {
  const gw = await startGateway(`[[backends]]\nname = "echo"\ncommand = "node"\nargs = [${q(fixture('meta-echo-server'))}]\n\n[telemetry]\n${telemetry}\n`, {
    env: { OTEL_BSP_SCHEDULE_DELAY: '50' },
  });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'echo');
  return gw;
}

async function call(gw: RunningGateway, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(`${gw.url}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ server: 'echo', tool: 'echo_meta' }),
  });
  expect(response.status).toBe(200);
}

async function rows(gw: RunningGateway): Promise<Record<string, unknown>[]> {
  return ((await (await fetch(`${gw.url}/log?limit=10`)).json()) as { calls: Record<string, unknown>[] }).calls;
}

describe('[otel] trace_id in /log', () => {
  it('tracing on: a call’s row has its span’s trace id (the caller’s trace), one without a caller context a trace of its own', async () => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(`enabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"`);
      await call(gw, { traceparent: `00-${TRACE_ID}-${PARENT}-01` });
      await call(gw);
      const [own, traced] = await rows(gw);
      expect(traced?.trace_id).toBe(TRACE_ID);
      // The second call started a trace of its own (ratio 1.0): its row names that trace, the one its spans were exported in.
      expect(own?.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(own?.trace_id).not.toBe(TRACE_ID);
      // A REST call's span is its POST's (32-otel: no execute_tool span under it).
      await eventually(() =>
        receiver.spans.find((s) => s.traceId === own?.trace_id && s.name === 'POST /call' && s.attributes['gen_ai.tool.name'] === 'echo_meta'),
      );
    } finally {
      await receiver.close();
    }
  });

  it('tracing off: a call with a traceparent has the caller’s trace id, one without has none', async () => {
    const gw = await gateway('enabled = false');
    await call(gw, { traceparent: `00-${TRACE_ID}-${PARENT}-01` });
    await call(gw);
    const [plain, traced] = await rows(gw);
    expect(traced?.trace_id).toBe(TRACE_ID);
    expect(plain).not.toHaveProperty('trace_id');
  });
});
