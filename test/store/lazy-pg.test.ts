import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * The PostgreSQL driver loads only for a postgres:// [store] url or --db:
 * a gateway or standalone coordination server on SQLite never pays for it.
 * Checked in a fresh Node process over the compiled modules (the test
 * runner itself has pg loaded for the PostgreSQL suites).
 */

const dist = (path: string): string => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

describe('PostgreSQL driver loading', () => {
  it('is not loaded by the gateway or the coordination server modules until a PostgreSQL URL asks for it', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(dist('src/gateway/gateway.js'))});
      await import(${JSON.stringify(dist('backends/coord/open-store.js'))});
      await import(${JSON.stringify(dist('src/store/factory.js'))});
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify(cache.filter((f) => /[\\\\/]node_modules[\\\\/]pg[\\\\/]/.test(f))));
    `;
    const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
    expect(loaded).toEqual([]);
  });
});
