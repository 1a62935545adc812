import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { loadConfig } from '../../src/config/load.js';
import {
  AuditSchema,
  AuthSchema,
  BackendSchema,
  CircuitBreakerSchema,
  CoordinationSchema,
  DispatchSchema,
  GatewaySchema,
  LoggingSchema,
  PoolSchema,
  SecuritySchema,
  ServerSchema,
  StoreSchema,
  SupervisorSchema,
} from '../../src/config/schema.js';
import { TelemetrySchema } from '../../src/config/telemetry-schema.js';

// The repository's own stonegate.toml, which must mirror the schema key for key.
const FILE = fileURLToPath(new URL('../../stonegate.toml', import.meta.url));

/**
 * The keys of the object schema inside a section's `.prefault({})`; a key
 * with no default at all ([otel]: unset falls back to an OTEL_* variable)
 * is shown commented out, so it is left out here.
 */
function sectionKeys(schema: z.ZodPrefault<z.ZodObject>): string[] {
  const shape = schema.unwrap().shape as Record<string, z.ZodType>;
  return Object.keys(shape)
    .filter((key) => !(shape[key]?.def.type === 'optional'))
    .sort();
}

const SECTIONS = {
  server: ServerSchema,
  gateway: GatewaySchema,
  circuit_breaker: CircuitBreakerSchema,
  pool: PoolSchema,
  supervisor: SupervisorSchema,
  dispatch: DispatchSchema,
  coordination: CoordinationSchema,
  auth: AuthSchema,
  security: SecuritySchema,
  audit: AuditSchema,
  store: StoreSchema,
  logging: LoggingSchema,
  telemetry: TelemetrySchema, // [otel]
} as const;

const file = parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>;

describe('the repository stonegate.toml', () => {
  it('loads with loadConfig', () => {
    const config = loadConfig({ file: FILE, explicit: true, env: {} });
    expect(config.file).toBe(FILE);
    expect(config.backends.map((b) => b.name)).toEqual(['demo', 'filesystem', 'memory']);
    expect(config.backends[2]?.env.MEMORY_FILE_PATH).toBe(`${config.server.dataDir}/memory.jsonl`);
  });

  it('has no section the schema lacks', () => {
    const known = [...Object.keys(SECTIONS), 'backends'];
    expect(Object.keys(file).filter((k) => !known.includes(k))).toEqual([]);
  });

  // One test per section so that a missing key names its section.
  for (const [section, schema] of Object.entries(SECTIONS)) {
    it(`[${section}] shows every schema key and no other`, () => {
      const written = file[section];
      expect(written, `section [${section}] is missing`).toBeTypeOf('object');
      expect(Object.keys(written as object).sort()).toEqual(sectionKeys(schema));
    });

    it(`[${section}] shows the schema defaults`, () => {
      const expected: Record<string, unknown> = { ...schema.parse({}) };
      // The one deliberate deviation: the repository keeps its state in the
      // git-ignored ./.stonegate instead of the default ~/.stonegate.
      if (section === 'server') expected.data_dir = './.stonegate';
      expect(file[section]).toEqual(expected);
    });
  }

  it('uses only schema keys in its backend entries', () => {
    const known = new Set(Object.keys(BackendSchema.shape));
    const backends = file.backends as Record<string, unknown>[];
    expect(backends.length).toBeGreaterThan(0);
    for (const entry of backends) expect(Object.keys(entry).filter((k) => !known.has(k))).toEqual([]);
  });
});
