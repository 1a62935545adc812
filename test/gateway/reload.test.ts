import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ConfigReloader } from '../../src/gateway/reload.js';
import { silentLogger } from '../../src/log.js';
import type { Roster } from '../../src/supervisor/roster.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';

// Issue #28 item 3: a storm of triggers folds into few reloads; a refused file changes nothing.

const dir = mkdtempSync(join(tmpdir(), 'stonegate-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function target(file: string) {
  const logger = silentLogger();
  const swapped: Config[] = [];
  const t = {
    config: buildConfig({}, file, dir),
    logger,
    supervisor: new Supervisor({ logger }),
    router: { drop: () => undefined },
    security: { reload: (config: Config) => void swapped.push(config) },
    get roster(): Roster {
      throw new Error('not started');
    },
  };
  return { t, swapped };
}

describe('ConfigReloader', () => {
  it('folds 100 triggers that come while a reload runs into one more run', async () => {
    const file = join(dir, 'storm.toml');
    writeFileSync(file, '');
    const { t } = target(file);
    let loads = 0;
    const reloader = new ConfigReloader(t, () => {
      loads += 1;
      return buildConfig({}, file, dir);
    });
    const results = await Promise.all(Array.from({ length: 100 }, () => reloader.reload('signal')));
    expect(loads).toBe(2);
    expect(results.every((r) => r.status === 'ok')).toBe(true);
  });

  it('refuses a file that does not load: the config object is not swapped, the error and the old revision are kept', async () => {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, '[gateway]\n');
    const { t, swapped } = target(file);
    const reloader = new ConfigReloader(t);
    const before = t.config;
    const revision = reloader.status().revision;
    writeFileSync(file, '[gateway\n');
    const result = await reloader.reload('api');
    expect(result).toMatchObject({ status: 'error', revision, trigger: 'api' });
    expect(result.error).toContain('bad.toml');
    expect(t.config).toBe(before);
    expect(swapped).toEqual([]);
    const health = reloader.decorate({ status: 'ok', checks: {} });
    expect(health).toMatchObject({ status: 'degraded', checks: { reload: { status: 'degraded' } }, reload: { status: 'error', revision } });
    expect(JSON.stringify(health)).not.toContain('bad.toml');
  });
});
