import { readFileSync } from 'node:fs';

// src/version.ts runs from src/ under vitest and from dist/src/ when built,
// so the package.json is one or two folders up.
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'stonegate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level; try the next
    }
  }
  return '0.0.0';
}

/** The gateway's version, from package.json. */
export const VERSION = readVersion();
