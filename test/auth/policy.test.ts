import { describe, expect, it } from 'vitest';
import { checkActingAs } from '../../src/auth/acting-as.js';
import type { Identity } from '../../src/auth/tokens.js';
import { coordBuiltin } from '../../src/builtins/coord.js';
import { buildConfig, parseBackendEntry } from '../../src/config/load.js';
import { checkRuntimeBackend, isLoaderEnv } from '../../src/config/runtime-policy.js';
import { SecuritySchema } from '../../src/config/schema.js';
import { jsonDepth } from '../../src/http/body.js';
import { isJson, routeSurface } from '../../src/http/security.js';

const raw = buildConfig({}, '(defaults)', '/srv').raw;
const entry = (patch: Record<string, unknown>) => parseBackendEntry({ name: 'x', command: 'node', ...patch }, raw, '/srv');

describe('runtime add policy', () => {
  it('refuses loader env keys (any case, LD_* and DYLD_* families, PATH) unless allowed_env lists them', () => {
    for (const key of [
      'LD_PRELOAD',
      'ld_preload',
      'LD_AUDIT',
      'DYLD_INSERT_LIBRARIES',
      'NODE_OPTIONS',
      'PYTHONPATH',
      'PERL5OPT',
      'RUBYOPT',
      'BASH_ENV',
      'ENV',
      'JAVA_TOOL_OPTIONS',
      '_JAVA_OPTIONS',
      'PATH',
    ]) {
      expect(isLoaderEnv(key), key).toBe(true);
      expect(() => checkRuntimeBackend(entry({ env: { [key]: 'x' } }), SecuritySchema.parse({}))).toThrow(new RegExp(`'${key}'.*allowed_env`));
    }
    expect(isLoaderEnv('API_KEY')).toBe(false);
    checkRuntimeBackend(entry({ env: { API_KEY: 'x', NODE_PATH: '/x' } }), SecuritySchema.parse({ allowed_env: ['node_path'] }));
  });

  it('checks the command against allowed_commands exactly, when the list is not empty', () => {
    const security = SecuritySchema.parse({ allowed_commands: ['node', '/usr/bin/python3'] });
    checkRuntimeBackend(entry({}), security);
    checkRuntimeBackend(entry({ command: '/usr/bin/python3' }), security);
    for (const command of ['python3', '/usr/bin/node', './node', 'node ', 'sh']) {
      expect(() => checkRuntimeBackend(entry({ command }), security), command).toThrow(/allowed_commands/);
    }
    checkRuntimeBackend(entry({ command: 'anything' }), SecuritySchema.parse({}));
    // http backends run no command.
    checkRuntimeBackend(parseBackendEntry({ name: 'r', transport: 'http', url: 'http://127.0.0.1:1/mcp' }, raw, '/srv'), security);
  });

  it('refuses inherit_env', () => {
    expect(() => checkRuntimeBackend(entry({ inherit_env: true }), SecuritySchema.parse({}))).toThrow(/inherit_env/);
  });
});

describe('acting as an agent on coord', () => {
  const FIELDS = coordBuiltin.identity?.fields ?? [];
  const agent: Identity = { name: 'alice', role: 'agent', servers: undefined, rateLimit: 0, burst: 1, maxConcurrent: 0 };

  it('lets a token act only as itself, and an admin as anyone', () => {
    checkActingAs(agent, { agent_id: 'alice', to: 'bob', content: 'x' }, 'mux_send', FIELDS);
    checkActingAs(agent, { channel: 'x' }, 'mux_stats', FIELDS);
    for (const field of ['agent_id', 'from', 'posted_by', 'updated_by', 'created_by']) {
      expect(() => checkActingAs(agent, { [field]: 'bob' }, 'mux_x', FIELDS), field).toThrow(new RegExp(`'${field}' is 'bob' but this token is 'alice'`));
    }
    expect(() => checkActingAs(agent, { agent_id: 7 }, 'x', FIELDS)).toThrow(/a number/);
    checkActingAs({ ...agent, role: 'admin' }, { from: 'bob' }, 'mux_send', FIELDS);
  });
});

describe('front-door helpers', () => {
  it('measures JSON nesting without parsing, skipping strings and escapes', () => {
    expect(jsonDepth('{}', 64)).toBe(1);
    expect(jsonDepth('{"a":[1,{"b":[]}]}', 64)).toBe(4);
    expect(jsonDepth('{"a":"[[[[{{{{\\"[[[["}', 64)).toBe(1);
    expect(jsonDepth('"\\\\"[[', 64)).toBe(2);
    expect(jsonDepth('['.repeat(100_000), 64)).toBe(65);
    expect(jsonDepth('', 64)).toBe(0);
  });

  // Roles (public, agent, admin) are declared on the routes now: test/http/route-role.test.ts.
  it('classifies paths by surface as the guard sees them', () => {
    expect(routeSurface('/server/list')).toBe('rest');
    expect(routeSurface('/mcp/demo')).toBe('mcp');
    expect(routeSurface('/')).toBe('mcp');
    expect(routeSurface('/messages')).toBe('mcp');
    expect(routeSurface('/coord/events', new Set(['coord']))).toBe('builtin');
    expect(routeSurface('/coord/events')).toBe('rest');
    expect(routeSurface('/metrics')).toBe('metrics');
  });

  it('accepts only JSON content types', () => {
    for (const t of ['application/json', 'Application/JSON; charset=utf-8', 'application/merge-patch+json']) expect(isJson(t), t).toBe(true);
    for (const t of [undefined, '', 'text/plain', 'application/jsonx', 'text/json', 'multipart/form-data']) expect(isJson(t), String(t)).toBe(false);
  });
});
