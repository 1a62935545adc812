import { normalizeBackend } from '../config/load.js';
import type { BackendConfig, Config } from '../config/schema.js';

/**
 * The built-in `coord` backend's entry. Long polls hold a call for up to
 * poll_timeout_max, so its timeout is above that, and one connection
 * carries many waiting polls.
 */
export function coordBackend(config: Config): BackendConfig {
  return normalizeBackend(
    {
      name: 'coord',
      transport: 'builtin',
      args: [],
      env: {},
      inherit_env: false,
      headers: {},
      roots: [],
      affinity: 'shared',
      auto_restart: true,
      health_check: true,
      enabled: true,
      timeout: Math.ceil(config.coordination.poll_timeout_max * 1000) + 30_000,
      pool: { min: 1, max: 4, max_concurrency: 1_000 },
    },
    config.raw,
    config.baseDir,
    'builtin',
  );
}
