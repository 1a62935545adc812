import type { Client, DiscoverResult } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { normalizeBackend } from '../../src/config/load.js';
import { type BackendConfig, BackendSchema, ConfigSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { BackendEra, ERA_HORIZON_MS } from '../../src/supervisor/era.js';
import type { ProbeOutcome } from '../../src/supervisor/era-probe.js';

// The verdict cache's rules without processes (the processes: test/issues/24-eras.test.ts).

const raw = ConfigSchema.parse({});
function config(entry: Record<string, unknown>): BackendConfig {
  return normalizeBackend(BackendSchema.parse({ name: 'b', command: 'unused', ...entry }), raw, '/tmp', 'file');
}
const DISCOVER = { supportedVersions: ['2026-07-28'], capabilities: {}, serverInfo: { name: 's', version: '1' } } as unknown as DiscoverResult;

/** A probe the test settles by hand. */
function manualProbe(): { probe: () => Promise<ProbeOutcome>; calls: number; answer: (o: ProbeOutcome) => void } {
  const state = { calls: 0, resolvers: [] as ((o: ProbeOutcome) => void)[] };
  return {
    probe: () => {
      state.calls += 1;
      return new Promise<ProbeOutcome>((resolve) => state.resolvers.push(resolve));
    },
    get calls() {
      return state.calls;
    },
    answer: (o) => state.resolvers.shift()?.(o),
  };
}

function fakeClient(era: 'legacy' | 'modern', version: string, discover?: DiscoverResult): Client {
  return { getProtocolEra: () => era, getNegotiatedProtocolVersion: () => version, getDiscoverResult: () => discover } as unknown as Client;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('BackendEra', () => {
  it('configured values: a verdict at once, no probe, the pin for 2026-07-28', async () => {
    const probe = vi.fn();
    const legacy = new BackendEra(config({}), silentLogger(), probe);
    await legacy.settle();
    expect(legacy.view()).toEqual({ configured: '2025-11-25', era: 'legacy', version: '2025-11-25', how: 'configured', probed_at: null });
    expect(legacy.negotiation()).toBeUndefined();
    expect(legacy.prior()).toEqual({ kind: 'legacy' });
    const modern = new BackendEra(config({ protocol: '2026-07-28' }), silentLogger(), probe);
    await modern.settle();
    expect(modern.negotiation()).toEqual({ mode: { pin: '2026-07-28' } });
    expect(modern.prior()).toBeUndefined(); // no DiscoverResult yet: the pinned connect asks
    modern.learn(fakeClient('modern', '2026-07-28', DISCOVER));
    expect(modern.prior()).toEqual({ kind: 'modern', discover: DISCOVER });
    expect(modern.view().how).toBe('configured');
    expect(probe).not.toHaveBeenCalled();
  });

  it('stdio auto: one probe shared by concurrent connects; never `auto` on the real connection', async () => {
    const manual = manualProbe();
    const era = new BackendEra(config({ protocol: 'auto' }), silentLogger(), manual.probe);
    expect(era.negotiation()).toBeUndefined();
    const both = Promise.all([era.settle(), era.settle()]);
    manual.answer({ era: 'modern', version: '2026-07-28', discover: DISCOVER });
    await both;
    expect(manual.calls).toBe(1);
    expect(era.prior()).toEqual({ kind: 'modern', discover: DISCOVER });
    expect(era.view()).toMatchObject({ era: 'modern', how: 'probed' });
    await era.settle();
    expect(manual.calls).toBe(1);
  });

  it('a reset during a probe: the old answer is not recorded, the next settle asks again', async () => {
    const manual = manualProbe();
    const era = new BackendEra(config({ protocol: 'auto' }), silentLogger(), manual.probe);
    const first = era.settle();
    era.reset();
    const second = era.settle();
    manual.answer({ era: 'modern', version: '2026-07-28', discover: DISCOVER });
    await first;
    expect(era.verdict).toBeUndefined();
    manual.answer({ era: 'legacy', version: null, why: 'closed' });
    await second;
    expect(era.view()).toMatchObject({ era: 'legacy', how: 'probed' });
    expect(manual.calls).toBe(2);
  });

  it('a probe that cannot spawn leaves the era unknown (the real start reports why)', async () => {
    const era = new BackendEra(config({ protocol: 'auto' }), silentLogger(), () => Promise.reject(new Error('ENOENT')));
    await era.settle();
    expect(era.verdict).toBeUndefined();
    expect(era.prior()).toBeUndefined();
  });

  it('http auto: learnt from the connection, reused as prior, asked again after the horizon', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const era = new BackendEra(config({ transport: 'http', url: 'http://127.0.0.1:1/mcp', command: undefined }), silentLogger());
    expect(era.negotiation()).toMatchObject({ mode: 'auto' });
    expect(era.prior()).toBeUndefined();
    era.learn(fakeClient('legacy', '2025-11-25'));
    expect(era.prior()).toEqual({ kind: 'legacy' });
    expect(era.view()).toEqual({ configured: 'auto', era: 'legacy', version: '2025-11-25', how: 'probed', probed_at: new Date(1_000_000).toISOString() });
    vi.setSystemTime(1_000_000 + ERA_HORIZON_MS);
    expect(era.prior()).toBeUndefined();
    expect(era.view().era).toBeNull();
  });
});
