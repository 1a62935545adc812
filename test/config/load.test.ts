import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, type LoadOptions, loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-config-'));
  dirs.push(dir);
  return dir;
}

/** Writes `toml` to a fresh folder and returns the file's path. */
function configFile(toml: string): string {
  const file = join(tempDir(), 'stonegate.toml');
  writeFileSync(file, toml);
  return file;
}

function load(toml: string, options: Omit<LoadOptions, 'file'> = {}): Config {
  return loadConfig({ file: configFile(toml), explicit: true, env: {}, ...options });
}

/** The ConfigError message of a load that must fail. */
function loadError(toml: string, options: Omit<LoadOptions, 'file'> = {}): string {
  try {
    load(toml, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected loadConfig to throw');
}

const STDIO = '[[backends]]\nname = "demo"\ncommand = "node"\n';

describe('loadConfig defaults', () => {
  it('fills every section from the schema when the file is empty', () => {
    const config = load('');
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.port).toBe(3393);
    expect(config.server.heap).toBe('balanced'); // [speed] bench `rss`: bounded old-space growth for a third of compact's CPU
    expect(config.server.dataDir).toBe(join(homedir(), '.stonegate'));
    expect(config.gateway.request_timeout).toBe(30_000);
    expect(config.gateway.tool_separator).toBe('__');
    expect(config.pool).toEqual({
      min: 1,
      max: 1,
      max_idle: 10,
      idle_timeout: 300,
      acquire_timeout: 5_000,
      max_waiting: 1_000,
      max_concurrency: 64,
      max_session_connections: 16,
    });
    expect(config.breaker).toEqual({
      failure_threshold: 5,
      reset_timeout: 30,
      success_threshold: 2,
      error_threshold_percentage: 0,
      volume_threshold: 20,
      rolling_window: 60,
    });
    expect(config.logging).toEqual({ level: 'info', format: 'json' });
    expect(config.backends).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('fills backend defaults and inherits the global timeout, pool and breaker', () => {
    const [backend] = load(`[gateway]\nrequest_timeout = 1234\n${STDIO}`).backends;
    expect(backend).toMatchObject({
      name: 'demo',
      transport: 'stdio',
      args: [],
      env: {},
      inheritEnv: false,
      affinity: 'shared',
      autoRestart: true,
      healthCheck: true,
      enabled: true,
      timeout: 1234,
      origin: 'file',
    });
    expect(backend?.pool.max_concurrency).toBe(64);
    expect(backend?.breaker.failure_threshold).toBe(5);
  });

  it('uses the embedded defaults when no file was asked for and none is in the folder', () => {
    const cwd = tempDir();
    const config = loadConfig({ cwd, env: {} });
    expect(config.file).toBeUndefined();
    expect(config.baseDir).toBe(cwd);
    expect(config.server.port).toBe(3393);
  });

  it('refuses an explicitly named file that does not exist', () => {
    const missing = join(tempDir(), 'nope.toml');
    expect(() => loadConfig({ file: missing, explicit: true, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: missing, explicit: true, env: {} })).toThrow(/nope\.toml: no such config file/);
  });
});

describe('loadConfig environment interpolation', () => {
  it('replaces ${VAR} and ${VAR:-fallback}, and reads $$ as a literal $', () => {
    const toml = `${STDIO}args = ["\${GREETING}", "\${ABSENT:-plan b}", "\${GREETING:-unused}", "cost: $$5", "$\${GREETING}", "[\${ABSENT:-}]", "a\${GREETING}b\${GREETING}"]\n`;
    const [backend] = load(toml, { env: { GREETING: 'hello' } }).backends;
    expect(backend?.args).toEqual(['hello', 'plan b', 'hello', 'cost: $5', '${GREETING}', '[]', 'ahellobhello']);
  });

  it('refuses a missing variable, naming the file, the key path and the variable', () => {
    const message = loadError(`${STDIO}env = { TOKEN = "Bearer \${API_TOKEN}" }\n`);
    expect(message).toMatch(/stonegate\.toml: /);
    expect(message).toContain('backends[0].env.TOKEN');
    expect(message).toContain('API_TOKEN');
  });

  it('reads a number or a boolean key given as one environment reference ("${PORT}") as that type; a string key stays a string', () => {
    const toml = `[server]\nport = "\${PORT}"\n[pool]\nmax = "\${POOL_MAX:-3}"\n[gateway]\nmax_json_depth = "\${DEPTH}"\n[audit]\narguments = "\${AUDIT_ARGS}"\n${STDIO}env = { N = "\${PORT}" }\n`;
    const config = load(toml, { env: { PORT: '9017', DEPTH: ' 12 ', AUDIT_ARGS: 'true' } });
    expect(config.server.port).toBe(9017);
    expect(config.pool.max).toBe(3);
    expect(config.gateway.max_json_depth).toBe(12);
    expect(config.audit.arguments).toBe(true);
    expect(config.backends[0]?.env).toEqual({ N: '9017' });
  });

  it('still refuses a number key whose variable is not a number, or whose string is more than the reference', () => {
    expect(loadError(`[server]\nport = "\${PORT}"\n`, { env: { PORT: 'eighty' } })).toContain('server.port');
    expect(loadError(`[server]\nport = "80\${SUFFIX}"\n`, { env: { SUFFIX: '80' } })).toContain('server.port');
  });

  it('offers STONEGATE_CONFIG_DIR and STONEGATE_DATA_DIR as built-in variables', () => {
    const toml = `[server]\ndata_dir = "state"\n${STDIO}env = { CONF = "\${STONEGATE_CONFIG_DIR}", MEM = "\${STONEGATE_DATA_DIR}/memory.jsonl" }\n`;
    const file = configFile(toml);
    const folder = resolve(file, '..');
    const config = loadConfig({ file, explicit: true, env: {} });
    expect(config.server.dataDir).toBe(join(folder, 'state'));
    expect(config.backends[0]?.env).toEqual({ CONF: folder, MEM: join(folder, 'state', 'memory.jsonl') });
  });

  it('interpolates data_dir itself before it becomes STONEGATE_DATA_DIR', () => {
    const toml = `[server]\ndata_dir = "\${BASE}/sg"\n${STDIO}env = { MEM = "\${STONEGATE_DATA_DIR}" }\n`;
    const config = load(toml, { env: { BASE: '/srv' } });
    expect(config.server.dataDir).toBe('/srv/sg');
    expect(config.backends[0]?.env.MEM).toBe('/srv/sg');
  });
});

describe('loadConfig validation errors', () => {
  it('names an unknown key in a backend entry', () => {
    const message = loadError('[[backends]]\nname = "demo"\ncomand = "node"\n');
    expect(message).toContain("backends[0]: unknown key 'comand'");
  });

  it('names an unknown key in a section', () => {
    expect(loadError('[server]\nprot = 1\n')).toContain("server: unknown key 'prot'");
  });

  it('names the file and the key path of a value of the wrong type', () => {
    const message = loadError('[server]\nport = "eighty"\n');
    expect(message).toMatch(/stonegate\.toml: server\.port: /);
    expect(message).toMatch(/number/);
  });

  it('requires command for a stdio backend and url for an http backend', () => {
    expect(loadError('[[backends]]\nname = "a"\n')).toContain("backends[0].command: a stdio backend needs 'command'");
    expect(loadError('[[backends]]\nname = "b"\ntransport = "http"\n')).toContain("backends[0].url: an http backend needs 'url'");
  });

  it('refuses two backends with the same name', () => {
    const message = loadError(`${STDIO}${STDIO}`);
    expect(message).toContain("backends[1].name: duplicate backend name 'demo'");
  });

  it('reports invalid TOML with its line number', () => {
    const message = loadError('[server]\nhost = "a"\nport = = 3\n');
    expect(message).toMatch(/stonegate\.toml: line 3, column \d+: /);
  });
});

describe('loadConfig normalization', () => {
  it('merges per-backend pool and circuit_breaker overrides over the globals', () => {
    const toml = [
      '[pool]',
      'max = 3',
      'acquire_timeout = 900',
      '[circuit_breaker]',
      'reset_timeout = 7',
      STDIO,
      'timeout = 4000',
      'pool = { max = 8 }',
      'circuit_breaker = { failure_threshold = 2 }',
      '[[backends]]',
      'name = "plain"',
      'command = "x"',
    ].join('\n');
    const [demo, plain] = load(toml).backends;
    expect(demo?.pool).toMatchObject({ max: 8, acquire_timeout: 900, max_concurrency: 64 });
    expect(demo?.breaker).toEqual({
      failure_threshold: 2,
      reset_timeout: 7,
      success_threshold: 2,
      error_threshold_percentage: 0,
      volume_threshold: 20,
      rolling_window: 60,
    });
    expect(demo?.timeout).toBe(4000);
    expect(plain?.pool).toMatchObject({ max: 3, acquire_timeout: 900 });
    expect(plain?.breaker.failure_threshold).toBe(5);
    expect(plain?.timeout).toBe(30_000);
  });

  it('resolves relative cwd and data_dir against the config file folder, and expands ~', () => {
    const toml = `[server]\ndata_dir = "../data"\n${STDIO}cwd = "work"\n[[backends]]\nname = "home"\ncommand = "x"\ncwd = "~/projects"\n[[backends]]\nname = "none"\ncommand = "x"\n`;
    const file = configFile(toml);
    const folder = resolve(file, '..');
    // A different working folder must not matter.
    const config = loadConfig({ file, explicit: true, env: {}, cwd: '/' });
    expect(config.baseDir).toBe(folder);
    expect(config.server.dataDir).toBe(resolve(folder, '../data'));
    expect(config.backends.map((b) => b.cwd)).toEqual([join(folder, 'work'), join(homedir(), 'projects'), folder]);
  });

  it('expands ~ in data_dir', () => {
    expect(load('[server]\ndata_dir = "~/sg-state"\n').server.dataDir).toBe(join(homedir(), 'sg-state'));
  });

  it('lets command-line overrides win over the file', () => {
    const config = load('[server]\nhost = "0.0.0.0"\nport = 8080\n[logging]\nlevel = "warn"\n', {
      overrides: { host: '::1', port: 9999, logLevel: 'debug' },
    });
    expect(config.server).toMatchObject({ host: '::1', port: 9999 });
    expect(config.logging.level).toBe('debug');
  });

  it('validates overrides like file values', () => {
    expect(() => load('', { overrides: { logLevel: 'chatty' } })).toThrow(/logging\.level/);
  });
});
