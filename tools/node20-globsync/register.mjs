// Usage: node --import tools/node20-globsync/register.mjs node_modules/conformance-2026/dist/index.js server ... (test/helpers/run-conformance.ts does this).
import { register } from 'node:module';

if (typeof (await import('node:fs')).default.globSync !== 'function') {
  register('./hooks.mjs', import.meta.url);
}
