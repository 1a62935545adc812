import { describe, expect, it } from 'vitest';
import { normalizeBackend } from '../../src/config/load.js';
import { BackendSchema, ConfigSchema } from '../../src/config/schema.js';
import { childEnv } from '../../src/supervisor/transports/stdio.js';

const raw = ConfigSchema.parse({});

function backend(entry: Record<string, unknown>): ReturnType<typeof normalizeBackend> {
  return normalizeBackend(BackendSchema.parse({ name: 'child', command: 'x', ...entry }), raw, '/tmp', 'file');
}

const parent = { PATH: '/usr/bin', HOME: '/home/ada', SECRET_TOKEN: 'hunter2', LANG: 'C' };

describe('childEnv', () => {
  it('gives a child only PATH, HOME and what its entry declares', () => {
    expect(childEnv(backend({ env: { API_KEY: 'k' } }), parent)).toEqual({ PATH: '/usr/bin', HOME: '/home/ada', API_KEY: 'k' });
  });

  it('leaves out PATH or HOME when the gateway has none', () => {
    expect(childEnv(backend({}), { HOME: '/h' })).toEqual({ HOME: '/h' });
  });

  it('passes the whole environment with inherit_env, declared values winning', () => {
    expect(childEnv(backend({ inherit_env: true, env: { LANG: 'de_DE.UTF-8' } }), parent)).toEqual({ ...parent, LANG: 'de_DE.UTF-8' });
  });

  it('lets a declared PATH replace the inherited one', () => {
    expect(childEnv(backend({ env: { PATH: '/opt/bin' } }), parent).PATH).toBe('/opt/bin');
  });
});
