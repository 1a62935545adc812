import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { redactedConfig } from '../../src/config/redact.js';
import { planConfig } from '../../src/config/reload-diff.js';

/* [otel] The [telemetry] section: defaults, refusals, redaction in GET /config, and a change waits for a restart. */

const config = (input: Record<string, unknown>) => buildConfig(input, '/tmp/stonegate.toml', '/tmp');

describe('[telemetry]', () => {
  it('is off by default, with every other key left to the OTEL_* environment', () => {
    expect(config({}).raw.telemetry).toEqual({ enabled: false, otlp_endpoint: '', protocol: '', headers: {}, service_name: '' });
  });

  it('refuses what it cannot use', () => {
    expect(() => config({ telemetry: { otlp_endpoint: 'grpc://collector:4317' } })).toThrow(/otlp_endpoint/);
    expect(() => config({ telemetry: { protocol: 'grpc' } })).toThrow(/protocol/);
    expect(() => config({ telemetry: { sample_ratio: 1.5 } })).toThrow(/sample_ratio/);
    expect(() => config({ telemetry: { headers: { 'bad header': 'x' } } })).toThrow(/header/);
    expect(() => config({ telemetry: { sampler: 'always_on' } })).toThrow(/sampler/);
  });

  it('shows the export headers by name only in GET /config', () => {
    const c = config({ telemetry: { enabled: true, headers: { 'x-honeycomb-team': 'secret-api-key-123' } } });
    const shown = redactedConfig(c, c.backends);
    expect(JSON.stringify(shown)).not.toContain('secret-api-key-123');
    expect((shown.telemetry as { headers: Record<string, string> }).headers).toHaveProperty('x-honeycomb-team');
  });

  it('waits for a restart when changed', () => {
    const plan = planConfig(config({}), config({ telemetry: { enabled: true, sample_ratio: 0.5 } }));
    expect(plan.needsRestart).toEqual(expect.arrayContaining(['telemetry.enabled', 'telemetry.sample_ratio']));
  });
});
